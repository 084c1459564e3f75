"""`opsconsole --check` with racks: PDUs read from a real SNMP agent, BMCs from a real Redfish service, GPU
watts from the lab node's nvidia-smi replay (real H100 capture), all in one run under `--timeout`.

Data: snmpsim serves the real APC walks of `snmpsim-data` (AP8641: 1,210 W; AP7902B: no watts, 1.6 A);
sushy-static serves tests/fixtures/redfish/bmc, written from the DMTF schema (Chassis/1 Power: 1,640 W).
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from tests.lab.network import _free_port
from tests.lab.redfish_bmc import RedfishBmc
from tests.lab.snmp_agent import SnmpAgent
from tests.lab.sshd import LabNode, SshLab
from tests.test_check_lab import by_key, run_check


def power_inventory(ssh_lab: SshLab, gpu_node: LabNode, snmp: SnmpAgent, bmc: RedfishBmc, dead: int) -> str:
    text = ssh_lab.inventory_yaml([gpu_node])
    top = (
        "pdus:\n"
        f"  pdu-a: {{host: 127.0.0.1, port: {snmp.port}, community: apc-8641, timeout: 3}}\n"
        f"  pdu-old: {{host: 127.0.0.1, port: {snmp.port}, community: apc-7902b, timeout: 3}}\n"
        f"  pdu-dead: {{host: 127.0.0.1, port: {dead}, community: public, timeout: 2}}\n"
        "racks:\n"
        "  rack-a: {pdus: [pdu-a], budget_w: 1400, warn_pct: 80, crit_pct: 95}\n"
        "  rack-b: {pdus: [pdu-old, pdu-dead], budget_w: 600}\n"
    )
    text = text.replace("nodes:\n", top + "nodes:\n", 1)
    text += f'    rack: rack-a\n    bmc: {{redfish: "{bmc.url}", chassis: "1", verify_tls: false}}\n'
    return text


def test_racks_in_one_check_run(
    ssh_lab: SshLab, gpu_node: LabNode, snmp_lab: SnmpAgent, redfish_lab: RedfishBmc, tmp_path: Path
) -> None:
    inventory = tmp_path / "racks.yaml"
    inventory.write_text(power_inventory(ssh_lab, gpu_node, snmp_lab, redfish_lab, _free_port()))
    started = time.monotonic()
    code, report = run_check(inventory, "--timeout", "10")
    assert time.monotonic() - started < 10 + 5
    results = by_key(report)
    bmc = results[("gpu1", "power.bmc", None)]
    assert bmc["status"] == "ok"
    assert bmc["perfdata"]["bmc_w"] == 1640.0
    gpus = bmc["perfdata"]["gpu_w"]
    assert gpus is not None
    assert gpus > 0
    pdu = results[("rack-a", "power.pdu", "pdu-a")]
    assert pdu["status"] == "warning"  # 1,210 W of 1,400 W: 86 % > 80 %
    assert pdu["summary"] == "1,210 W, 86% of the rack's 1,400 W budget, 6.6 A"
    rack = results[("rack-a", "power.rack", None)]
    assert rack["status"] == "warning"
    assert "BMCs 1,640 W" in rack["summary"]
    assert f"rest of the hosts {1640 - gpus:,.0f} W" in rack["summary"]
    assert "headroom 190 W" in rack["summary"]
    old = results[("rack-b", "power.pdu", "pdu-old")]
    assert old["status"] == "unknown"
    assert old["summary"] == "the PDU reports no watts (its load is 1.6 A)"
    dead = results[("rack-b", "power.pdu", "pdu-dead")]
    assert dead["status"] == "unknown"
    assert "did not answer within 2s" in dead["summary"]
    assert results[("rack-b", "power.rack", None)]["status"] == "unknown"
    assert code == 3  # unknown outranks warning


def test_unreachable_bmc_is_unknown_not_critical(
    ssh_lab: SshLab, gpu_node: LabNode, snmp_lab: SnmpAgent, redfish_lab: RedfishBmc, tmp_path: Path
) -> None:
    text = power_inventory(ssh_lab, gpu_node, snmp_lab, redfish_lab, _free_port())
    text = text.replace(redfish_lab.url, f"http://127.0.0.1:{_free_port()}")
    text = text.replace("  rack-b: {pdus: [pdu-old, pdu-dead], budget_w: 600}\n", "")
    inventory = tmp_path / "racks.yaml"
    inventory.write_text(text.replace("pdus:\n", "pdus:\n", 1))
    code, report = run_check(inventory, "--timeout", "10")
    results = by_key(report)
    bmc = results[("gpu1", "power.bmc", None)]
    assert bmc["status"] == "unknown"
    assert "unreachable" in bmc["summary"]
    rack = results[("rack-a", "power.rack", None)]
    assert rack["status"] == "warning"  # judged on its PDU; the missing BMC is said
    assert "no BMC reading from gpu1" in rack["summary"]
    assert code == 3


def test_a_node_whose_ssh_is_down_still_has_its_bmc_read_over_redfish(
    ssh_lab: SshLab, gpu_node: LabNode, snmp_lab: SnmpAgent, redfish_lab: RedfishBmc, tmp_path: Path
) -> None:
    text = power_inventory(ssh_lab, gpu_node, snmp_lab, redfish_lab, _free_port())
    text = text.replace(f"port: {gpu_node.port}", f"port: {_free_port()}")  # nothing listens: SSH refused
    inventory = tmp_path / "racks.yaml"
    inventory.write_text(text)
    started = time.monotonic()
    code, report = run_check(inventory, "--timeout", "10")
    assert time.monotonic() - started < 10 + 5
    results = by_key(report)
    assert results[("gpu1", "ssh.reachable", None)]["status"] == "critical"
    bmc = results[("gpu1", "power.bmc", None)]
    assert bmc["status"] == "ok"  # the BMC answers from the workstation: the host draws 1,640 W
    assert bmc["perfdata"]["bmc_w"] == 1640.0
    assert "gpu_w" not in bmc["perfdata"]  # no GPU figures without the node
    assert results[("gpu1", "gpu.present", None)]["status"] == "skipped"
    rack = results[("rack-a", "power.rack", None)]
    assert "BMCs 1,640 W" in rack["summary"]
    assert code == 2

    dcmi = text.replace(
        f'bmc: {{redfish: "{redfish_lab.url}", chassis: "1", verify_tls: false}}', "bmc: {ipmi: dcmi}"
    )
    inventory.write_text(dcmi)
    code, report = run_check(inventory, "--timeout", "10")
    bmc = by_key(report)[("gpu1", "power.bmc", None)]
    assert bmc["status"] == "skipped"  # ipmitool runs on the node itself
    assert code == 2


def test_silent_pdu_counts_against_the_timeout(
    ssh_lab: SshLab, gpu_node: LabNode, snmp_lab: SnmpAgent, redfish_lab: RedfishBmc, tmp_path: Path
) -> None:
    # A UDP port that takes every request and never answers, and a PDU whose own deadline is far longer
    # than --timeout: the run still ends at --timeout, and the PDU is unknown, not missing.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        text = power_inventory(ssh_lab, gpu_node, snmp_lab, redfish_lab, port)
        text = text.replace(
            f"port: {port}, community: public, timeout: 2", f"port: {port}, community: public, timeout: 60"
        )
        inventory = tmp_path / "racks.yaml"
        inventory.write_text(text)
        started = time.monotonic()
        code, report = run_check(inventory, "--timeout", "8")
        took = time.monotonic() - started
    assert took < 8 + 3  # --timeout counts from the interpreter's start; a little for the teardown
    results = by_key(report)
    dead = results[("rack-b", "power.pdu", "pdu-dead")]
    assert dead["status"] == "unknown"
    assert results[("rack-a", "power.pdu", "pdu-a")]["status"] == "warning"  # what answered is kept
    assert code == 3


def test_ipmi_dcmi_runs_on_the_node_read_only(
    ssh_lab: SshLab, gpu_node: LabNode, snmp_lab: SnmpAgent, redfish_lab: RedfishBmc, tmp_path: Path
) -> None:
    # No BMC answers DCMI here: the node's `ipmitool` is a stand-in that prints recorded output
    # (tests/fixtures/ipmi) for exactly `dcmi power reading`; the SSH, the read-only allow-list and the
    # parser are real.
    recorded = (Path(__file__).parent / "fixtures" / "ipmi" / "dcmi-power-reading.txt").read_text()
    stand_in = gpu_node.bin_dir / "ipmitool"
    stand_in.write_text(
        '#!/bin/sh\n[ "$*" = "dcmi power reading" ] || { echo "unexpected: $*" >&2; exit 1; }\n'
        f"cat <<'EOF'\n{recorded}EOF\n"
    )
    stand_in.chmod(0o755)
    try:
        text = power_inventory(ssh_lab, gpu_node, snmp_lab, redfish_lab, _free_port())
        text = text.replace(
            f'bmc: {{redfish: "{redfish_lab.url}", chassis: "1", verify_tls: false}}', "bmc: {ipmi: dcmi}"
        )
        inventory = tmp_path / "racks.yaml"
        inventory.write_text(text)
        _code, report = run_check(inventory, "--timeout", "10")
    finally:
        stand_in.unlink()
    bmc = by_key(report)[("gpu1", "power.bmc", None)]
    assert bmc["status"] == "ok"
    assert bmc["perfdata"]["bmc_w"] == 612.0
    assert bmc["summary"].endswith("(ipmi dcmi)")
