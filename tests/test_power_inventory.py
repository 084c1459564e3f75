"""The inventory's power keys: `pdus:`, `racks:`, a node's `rack:` and `bmc:`, exactly as the interface
spells them; secrets only by `*_env` / `*_file`."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.inventory.loader import InventoryError, load_inventory

BASE = """\
version: 1
pdus:
  inferno-pdu-circle2-1: {host: 10.0.99.21, port: 161, community: public, profile: apc-rpdu2}
  inferno-pdu-v3:
    host: 10.0.99.22
    snmpv3: {user: ops, auth_protocol: sha256, auth_key_env: PDU_AUTH, priv_protocol: aes,
             priv_key_file: /etc/k}
racks:
  circle-2-lust: {pdus: [inferno-pdu-circle2-1, inferno-pdu-v3], budget_w: 2300, warn_pct: 80, crit_pct: 95}
groups:
  circle2: {rack: circle-2-lust}
nodes:
  inferno-host-compute-1:
    host: 10.0.99.31
    groups: [circle2]
    bmc: {redfish: "https://10.0.99.51", username: admin, password_env: INFERNO_BMC_PASSWORD,
          verify_tls: true}
  inferno-host-compute-2:
    host: 10.0.99.32
    rack: circle-2-lust
    bmc: {ipmi: dcmi}
"""


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "inv.yaml"
    path.write_text(text, encoding="utf-8")
    return load_inventory(path)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(InventoryError) as caught:
        load(tmp_path, text)
    return [f"{p.line}: {p.key}: {p.message}" for p in caught.value.errors]


def test_power_keys_load(tmp_path: Path) -> None:
    inventory = load(tmp_path, BASE)
    pdu, v3 = inventory.pdus  # type: ignore[attr-defined]
    assert (pdu.name, pdu.host, pdu.port, pdu.community, pdu.profile) == (
        "inferno-pdu-circle2-1", "10.0.99.21", 161, "public", "apc-rpdu2"
    )  # fmt: skip
    assert v3.snmpv3.auth_protocol == "sha256"
    assert v3.snmpv3.priv_key_file == "/etc/k"
    (rack,) = inventory.racks  # type: ignore[attr-defined]
    assert (rack.name, rack.pdus, rack.budget_w, rack.warn_pct, rack.crit_pct) == (
        "circle-2-lust", ("inferno-pdu-circle2-1", "inferno-pdu-v3"), 2300.0, 80.0, 95.0
    )  # fmt: skip
    one, two = inventory.nodes  # type: ignore[attr-defined]
    assert one.rack == "circle-2-lust"  # from its group
    assert one.bmc.redfish == "https://10.0.99.51"
    assert one.bmc.password_env == "INFERNO_BMC_PASSWORD"
    assert two.bmc.ipmi == "dcmi"


def test_clear_secrets_refused(tmp_path: Path) -> None:
    text = BASE.replace("password_env: INFERNO_BMC_PASSWORD", "password: hunter2").replace(
        "auth_key_env: PDU_AUTH", "auth_key: hunter3"
    )
    found = problems(tmp_path, text)
    assert any(
        "nodes.inferno-host-compute-1.bmc.password: a secret never sits in the inventory in clear: "
        "use password_env (an environment variable) or password_file" in p
        for p in found
    ), found
    assert any("pdus.inferno-pdu-v3.snmpv3.auth_key: a secret never sits" in p for p in found), found
    assert not any("hunter" in p for p in found)  # the secret is never echoed back


def test_a_password_in_the_redfish_url_is_refused(tmp_path: Path) -> None:
    """A URL's user:password would be shown wherever the BMC is named (`BMC admin:hunter2@host unreachable`)
    and bypass password_env/password_file."""
    found = problems(tmp_path, BASE.replace("https://10.0.99.51", "https://admin:hunter2@10.0.99.51"))
    assert any("compute-1.bmc.redfish: " in p and "password_env" in p for p in found), found
    assert not any("hunter" in p for p in found)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("rack: circle-2-lust\n", "rack: circle-9\n"),
            "nodes.inferno-host-compute-2.rack: 'circle-9' is not a rack",
        ),
        (
            ("[inferno-pdu-circle2-1, inferno-pdu-v3]", "[nope]"),
            "racks.circle-2-lust.pdus: 'nope' is not a PDU",
        ),
        (("warn_pct: 80", "warn_pct: 96"), "racks.circle-2-lust: warn_pct (96) must be below crit_pct (95)"),
        (("budget_w: 2300", "budget_w: -1"), "racks.circle-2-lust.budget_w: must be greater than 0"),
        (
            ("{ipmi: dcmi}", "{ipmi: dcmi, redfish: 'https://x'}"),
            "bmc: give one of redfish: URL or ipmi: dcmi",
        ),
        (("port: 161", "port: 70000"), "pdus.inferno-pdu-circle2-1.port: must be between 1 and 65535"),
        (("community: public, ", ""), "pdus.inferno-pdu-circle2-1: needs a community"),
        (("https://10.0.99.51", "ftp://bmc"), "bmc.redfish: must start with http:// or https://"),
        (
            ("password_env: INFERNO_BMC_PASSWORD", "password_env: 'A B'"),
            "must be an environment variable name",
        ),
        (
            ("profile: apc-rpdu2", "profile: apc-rpdu2, colour: red"),
            "pdus.inferno-pdu-circle2-1.colour: unknown key",
        ),
    ],
)
def test_power_problems(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in BASE
    found = problems(tmp_path, BASE.replace(old, new, 1))
    assert any(expected in p for p in found), found


def test_bundled_inferno_describes_the_three_racks() -> None:
    inventory = load_inventory(Path(__file__).resolve().parent.parent / "inventories" / "inferno.yaml")
    budgets = {rack.name: rack.budget_w for rack in inventory.racks}
    assert budgets == {"circle-1-limbo": 600.0, "circle-2-lust": 2300.0, "circle-3-gluttony": 1100.0}
    pdus = {pdu.name: pdu for pdu in inventory.pdus}
    assert {name for rack in inventory.racks for name in rack.pdus} == set(pdus)
    assert pdus["inferno-pdu-circle3-1"].snmpv3 is not None  # keys from the environment
    gpu_hosts = [node for node in inventory.nodes if node.gpus is not None]
    assert [(n.name, n.gpus.count, n.gpus.model) for n in gpu_hosts if n.gpus] == [
        ("inferno-host-compute-1", 4, "RTX PRO 6000"),
        ("inferno-host-l40s-1", 1, "L40S"),
        ("inferno-host-l40s-2", 1, "L40S"),
    ]
    for node in gpu_hosts:  # every GPU host sits in a rack and has a BMC whose secret is not in the file
        assert node.rack in budgets
        assert node.bmc is not None
        assert node.bmc.password is None
    assert inventory.node("inferno-host-l40s-2").bmc.ipmi == "dcmi"  # type: ignore[union-attr]
