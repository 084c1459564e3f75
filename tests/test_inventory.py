"""Inventory loader: merged values and every error with its exact `file:line: key: message` (where the file is
looked for: test_inventory_locate.py)."""

from __future__ import annotations

import pickle
import re
import textwrap
from importlib.resources import files
from pathlib import Path

import pytest

from console.inventory import (
    GpuExpectation,
    InventoryError,
    SSHSettings,
    Threshold,
    bundled_inventory,
    load_inventory,
)
from tests.inventory_support import HEADER, lab_file, problems, write

BUNDLED = sorted(p.name for p in Path(str(files("inventories"))).glob("*.yaml"))
lab = pytest.fixture(lab_file)


# --- good inventories ---------------------------------------------------------------------------------


def test_pantheon_merges_defaults_key_by_key() -> None:
    inv = load_inventory(bundled_inventory("pantheon"))
    assert inv.name == "pantheon"
    assert [n.name for n in inv.nodes] == ["prometheus", "atlas", "cerberus"]
    prometheus = inv.node("prometheus")
    assert prometheus.host == "10.60.0.20"
    assert prometheus.transport == "ssh"
    assert prometheus.groups == ("compute", "gpu")
    # Per-node `user` wins; everything else still comes from defaults.ssh, `~` left unexpanded.
    assert prometheus.ssh == SSHSettings(
        user="admin",
        port=22,
        identity_file="~/.ssh/id_ed25519",
        known_hosts="~/.ssh/known_hosts",
        jump=None,
        connect_timeout=10.0,
    )
    assert prometheus.gpus == GpuExpectation(count=1, model="RTX 4000 Ada")
    assert prometheus.refresh == 2.0
    assert prometheus.thresholds.gpu_temperature == Threshold(warn=80.0, crit=95.0)
    atlas = inv.node("atlas")
    assert (atlas.ssh.user, atlas.ssh.port, atlas.refresh, atlas.gpus) == ("ops", 22, 15.0, None)
    assert inv.node("cerberus").ssh.port == 2222
    assert inv.groups == ("compute", "gpu", "storage", "network")


def test_inferno_bastion_overrides_inherited_jump_and_gpus() -> None:
    inv = load_inventory(bundled_inventory("inferno"))
    assert inv.node("bastion").ssh.jump is None
    assert inv.node("bastion").gpus is None
    racked = [n for n in inv.nodes if n.name != "bastion"]
    assert len(racked) == 3
    assert {n.ssh.jump for n in racked} == {"bastion"}
    assert inv.node("inferno-host-compute-1").gpus == GpuExpectation(count=4, model="RTX PRO 6000")
    assert inv.node("inferno-host-l40s-1").thresholds.gpu_temperature == Threshold(warn=80.0, crit=90.0)
    assert [n.name for n in inv.nodes if "circle3" in n.groups] == ["bastion", "inferno-host-l40s-1"]


def test_minimal_inventory_gets_model_defaults(lab: Path) -> None:
    inv = load_inventory(write(lab, HEADER + "  gpu1: {host: gpu1.lab}\n"))
    node = inv.node("gpu1")
    assert inv.name == "lab"  # no `name:`: the file's stem
    assert inv.path == "lab.yaml"
    assert node.ssh == SSHSettings()
    assert node.refresh == 5.0
    assert isinstance(node.refresh, float)
    assert node.thresholds.gpu_temperature == Threshold(warn=85.0, crit=95.0)
    assert node.gpus is None


def test_local_transport_defaults_host_to_localhost(lab: Path) -> None:
    inv = load_inventory(
        write(lab, HEADER + "  here: {transport: local}\n  there: {transport: local, host: h}\n")
    )
    assert (inv.node("here").transport, inv.node("here").host) == ("local", "localhost")
    assert inv.node("there").host == "h"


def test_defaults_merge_and_null_override(lab: Path) -> None:
    path = write(
        lab,
        """\
        version: 1
        defaults:
          ssh: {user: ops, port: 2200, jump: "ops@10.0.0.2:2222"}
          gpus: {count: 4}
          thresholds: {gpu_temperature: {crit: 90}}
        nodes:
          a:
            host: 10.0.0.10
            ssh: {port: 22}
            gpus: {model: A100}
            thresholds: {gpu_temperature: {warn: 70}}
          b:
            host: 10.0.0.11
            ssh: {jump: null}
            gpus: null
        """,
    )
    inv = load_inventory(path)
    a, b = inv.node("a"), inv.node("b")
    assert (a.ssh.user, a.ssh.port, a.ssh.jump) == ("ops", 22, "ops@10.0.0.2:2222")
    assert a.gpus == GpuExpectation(count=4, model="A100")
    assert a.thresholds.gpu_temperature == Threshold(warn=70.0, crit=90.0)
    assert (b.ssh.port, b.ssh.jump, b.gpus) == (2200, None, None)
    assert b.thresholds.gpu_temperature == Threshold(warn=85.0, crit=90.0)


def test_scalars_numbers_as_strings_and_ipv6(lab: Path) -> None:
    body = (
        '  a: {host: "fe80::1", gpus: {model: 4090}, groups: [rack-1, 7], ssh: {jump: "me@[fe80::2]:2222"}}\n'
    )
    node = load_inventory(write(lab, HEADER + body)).node("a")
    assert (node.host, node.gpus, node.groups) == ("fe80::1", GpuExpectation(model="4090"), ("rack-1", "7"))


def test_edge_values_that_are_allowed(lab: Path) -> None:
    body = "  a: {host: h, ssh: {host_key_policy: accept-new, keepalive_interval: 0}, gpus: {count: 0}}\n"
    node = load_inventory(write(lab, HEADER + body)).node("a")
    assert (node.ssh.host_key_policy, node.ssh.keepalive_interval, node.gpus) == (
        "accept-new",
        0.0,
        GpuExpectation(count=0),
    )


def test_yaml_merge_keys_are_applied(lab: Path) -> None:
    path = write(
        lab,
        """\
        version: 1
        nodes:
          a: &common
            host: 10.0.0.1
            groups: [gpu]
            refresh: 3
          b:
            <<: *common
            host: 10.0.0.2
        """,
    )
    b = load_inventory(path).node("b")
    assert (b.host, b.groups, b.refresh) == ("10.0.0.2", ("gpu",), 3.0)


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_inventories_validate(name: str) -> None:
    inv = load_inventory(bundled_inventory(name.removesuffix(".yaml")))
    assert inv.nodes
    assert inv.name == name.removesuffix(".yaml")


def test_all_example_inventories_are_bundled() -> None:
    assert set(BUNDLED) >= {
        "local.yaml",
        "pantheon.yaml",
        "monitoring-stack.yaml",
        "runpod.yaml",
        "inferno.yaml",
    }


def test_local_inventory_is_one_local_node_without_gpu_expectation() -> None:
    inv = load_inventory(bundled_inventory("local"))
    assert [(n.transport, n.host, n.gpus) for n in inv.nodes] == [("local", "localhost", None)]


# --- errors ---------------------------------------------------------------------------------------------


def node_case(body: str) -> str:
    """Node `gpu1` on line 3, its body from line 4; `host:` is appended when the body has none."""
    body = textwrap.dedent(body) + ("" if re.search(r"^host:", body, re.M) else "\nhost: 10.0.0.1")
    return HEADER + "  gpu1:\n" + textwrap.indent(body, "    ") + "\n"


JUMP_HINT = "expected an inventory node name or [user@]host[:port]"
NODE_ERRORS = {
    "unknown key": ("ssh: {prot: 22}", "lab.yaml:4: nodes.gpu1.ssh.prot: unknown key"),
    "port string": ('ssh: {port: "abc"}', "lab.yaml:4: nodes.gpu1.ssh.port: expected an integer, got 'abc'"),
    "port bool": ("ssh: {port: true}", "lab.yaml:4: nodes.gpu1.ssh.port: expected an integer, got a boolean"),
    "port float": ("ssh: {port: 22.5}", "lab.yaml:4: nodes.gpu1.ssh.port: expected an integer, got a number"),
    "port range": ("ssh: {port: 70000}", "lab.yaml:4: nodes.gpu1.ssh.port: must be between 1 and 65535"),
    "port zero": ("ssh: {port: 0}", "lab.yaml:4: nodes.gpu1.ssh.port: must be between 1 and 65535"),
    "timeout zero": (
        "ssh: {connect_timeout: 0}",
        "lab.yaml:4: nodes.gpu1.ssh.connect_timeout: must be greater than 0",
    ),
    "timeout negative": (
        "ssh:\n  command_timeout: -5",
        "lab.yaml:5: nodes.gpu1.ssh.command_timeout: must be greater than 0",
    ),
    "refresh zero": ("refresh: 0", "lab.yaml:4: nodes.gpu1.refresh: must be greater than 0"),
    "refresh inf": (
        "refresh: .inf",
        "lab.yaml:4: nodes.gpu1.refresh: expected a finite number, got a number",
    ),
    "refresh bool": ("refresh: yes", "lab.yaml:4: nodes.gpu1.refresh: expected a number, got a boolean"),
    "transport": (
        "transport: telnet",
        "lab.yaml:4: nodes.gpu1.transport: expected one of ssh, local, got 'telnet'",
    ),
    "host key policy": (
        "ssh: {host_key_policy: lax}",
        "lab.yaml:4: nodes.gpu1.ssh.host_key_policy: expected one of strict, accept-new, got 'lax'",
    ),
    "groups not list": ("groups: compute", "lab.yaml:4: nodes.gpu1.groups: expected a list, got 'compute'"),
    "groups item": (
        "groups:\n  - compute\n  - {rack: a}",
        "lab.yaml:6: nodes.gpu1.groups[1]: expected a non-empty string, got a mapping",
    ),
    "gpu count": ("gpus: {count: -1}", "lab.yaml:4: nodes.gpu1.gpus.count: must be 0 or more"),
    "gpus not mapping": ("gpus: 4", "lab.yaml:4: nodes.gpu1.gpus: expected a mapping, got an integer"),
    "jump syntax": (
        "ssh: {jump: 'ops@:22'}",
        "lab.yaml:4: nodes.gpu1.ssh.jump: " + JUMP_HINT + ", got 'ops@:22'",
    ),
    "jump port": (
        "ssh: {jump: 'gw:99999'}",
        "lab.yaml:4: nodes.gpu1.ssh.jump: " + JUMP_HINT + ", got 'gw:99999'",
    ),
    "host with user": (
        "host: root@10.0.0.1",
        "lab.yaml:4: nodes.gpu1.host: must be a host name or address; put the user in ssh.user",
    ),
    "host with port": (
        "host: '10.0.0.1:22'",
        "lab.yaml:4: nodes.gpu1.host: must be a host name or address; put the port in ssh.port",
    ),
    "empty string": ("host: ''", "lab.yaml:4: nodes.gpu1.host: expected a non-empty string, got ''"),
    "null for str": (
        "ssh: {known_hosts: null}",
        "lab.yaml:4: nodes.gpu1.ssh.known_hosts: expected a non-empty string, got null",
    ),
    "name in body": ("name: other", "lab.yaml:4: nodes.gpu1.name: not allowed here"),
    "warn above crit": (
        "thresholds:\n  gpu_temperature: {warn: 96}",
        "lab.yaml:5: nodes.gpu1.thresholds.gpu_temperature: warn (96) must not be above crit (95)",
    ),
    "jump to itself": (
        "ssh: {jump: gpu1}",
        "lab.yaml:4: nodes.gpu1.ssh.jump: jump chain loops: gpu1 -> gpu1",
    ),
    "duplicate key": (
        "host: 10.0.0.1\nrefresh: 2\nhost: 10.0.0.2",
        "lab.yaml:6: nodes.gpu1.host: duplicate key (first defined on line 4)",
    ),
}


@pytest.mark.parametrize(("body", "expected"), NODE_ERRORS.values(), ids=NODE_ERRORS.keys())
def test_node_errors(lab: Path, body: str, expected: str) -> None:
    assert problems(write(lab, node_case(body))) == [expected]


def test_error_attributes_and_all_problems_collected(lab: Path) -> None:
    path = write(
        lab,
        """\
        version: 1
        defaults:
          ssh: {user: ops, prot: 22}
        nodes:
          gpu1:
            host: 10.0.0.1
            ssh: {port: "abc", connect_timeout: 0}
            groups: compute
          gpu2:
            transport: telnet
            gpus: {count: -2}
          "bad name":
            host: 10.0.0.3
        """,
    )
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    err = info.value
    assert (err.path, err.line, err.key, err.message) == ("lab.yaml", 3, "defaults.ssh.prot", "unknown key")
    assert str(err) == "lab.yaml:3: defaults.ssh.prot: unknown key"
    assert [str(p) for p in err.errors] == [
        "lab.yaml:3: defaults.ssh.prot: unknown key",
        "lab.yaml:7: nodes.gpu1.ssh.port: expected an integer, got 'abc'",
        "lab.yaml:7: nodes.gpu1.ssh.connect_timeout: must be greater than 0",
        "lab.yaml:8: nodes.gpu1.groups: expected a list, got 'compute'",
        "lab.yaml:10: nodes.gpu2.transport: expected one of ssh, local, got 'telnet'",
        "lab.yaml:11: nodes.gpu2.gpus.count: must be 0 or more",
        "lab.yaml:12: nodes.bad name: node names must start with a letter or digit and use only A-Za-z0-9_.-",
    ]
    assert err.errors[0].line == 3
    assert err.errors[1].key == "nodes.gpu1.ssh.port"
    copy = pickle.loads(pickle.dumps(err))
    assert (str(copy), copy.errors) == (str(err), err.errors)


def test_jump_loops_between_nodes_and_through_defaults(lab: Path) -> None:
    path = write(
        lab,
        """\
        version: 1
        defaults:
          ssh: {jump: bastion}
        nodes:
          bastion:
            host: 10.0.0.1
          a:
            host: 10.0.0.2
            ssh: {jump: b}
          b:
            host: 10.0.0.3
            ssh: {jump: a}
          c:
            host: 10.0.0.4
        """,
    )
    assert problems(path) == [
        "lab.yaml:3: nodes.bastion.ssh.jump: jump chain loops: bastion -> bastion"
        " (inherited from defaults.ssh.jump)",
        "lab.yaml:9: nodes.a.ssh.jump: jump chain loops: a -> b -> a",
        "lab.yaml:12: nodes.b.ssh.jump: jump chain loops: b -> a -> b",
    ]


def test_jump_chain_through_other_nodes_is_fine(lab: Path) -> None:
    text = HEADER + "  gw: {host: 10.0.0.1}\n  mid: {host: 10.0.0.2, ssh: {jump: gw}}\n"
    inv = load_inventory(write(lab, text + "  leaf: {host: 10.0.0.3, ssh: {jump: mid}}\n"))
    assert [n.ssh.jump for n in inv.nodes] == [None, "gw", "mid"]


def test_defaults_thresholds_problem_reported_once(lab: Path) -> None:
    path = write(
        lab,
        """\
        version: 1
        defaults:
          thresholds:
            gpu_temperature: {warn: 90, crit: 80}
        nodes:
          a: {host: h1}
          b: {host: h2}
          c: {host: h3, thresholds: {gpu_temperature: {crit: 95}}}
        """,
    )
    assert problems(path) == [
        "lab.yaml:4: defaults.thresholds.gpu_temperature: warn (90) must not be above crit (80)",
    ]


def test_duplicate_keys_inside_defaults(lab: Path) -> None:
    text = "version: 1\ndefaults:\n  refresh: 5\n  ssh: {user: a}\n  refresh: 6\nnodes:\n  a: {host: h}\n"
    assert problems(write(lab, text)) == [
        "lab.yaml:5: defaults.refresh: duplicate key (first defined on line 3)"
    ]


def test_problems_are_sorted_by_line(lab: Path) -> None:
    # The thresholds check runs after every node is converted, yet its line-4 problem must come first.
    path = write(
        lab,
        """\
        version: 1
        defaults:
          thresholds:
            gpu_temperature: {warn: 90, crit: 80}
        nodes:
          a: {host: h1}
          b:
            host: h2
            refersh: 2
        """,
    )
    assert problems(path) == [
        "lab.yaml:4: defaults.thresholds.gpu_temperature: warn (90) must not be above crit (80)",
        "lab.yaml:9: nodes.b.refersh: unknown key",
    ]


def test_docs_name_every_inventory_key() -> None:
    # docs/inventory.md is the format's reference: every key the loader takes is named there as `key`.
    import dataclasses

    from console.inventory import model
    from console.inventory.loader import _TOP_KEYS

    docs = (Path(__file__).resolve().parents[1] / "docs" / "inventory.md").read_text(encoding="utf-8")
    sections = [model.Node, model.SSHSettings, model.GpuExpectation, model.DockerSettings, model.MountSpec]
    sections += [model.ServiceSpec, model.HttpProbe, model.PrometheusSettings, model.Thresholds]
    sections += [model.SshdPolicy, model.StorageSpec]
    keys = {f.name for tp in sections for f in dataclasses.fields(tp)} | set(_TOP_KEYS)
    missing = sorted(key for key in keys - {"name"} if f"`{key}`" not in docs)
    assert missing == []
