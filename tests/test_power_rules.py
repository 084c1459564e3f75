"""The power rules and sums on values built here, and the DCMI parser on recorded ipmitool output
(tests/fixtures/ipmi: the shape ipmitool 1.8.19 prints; no BMC answers DCMI on these machines)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.checks.power_rules import evaluate_bmc, evaluate_racks, node_gpu_watts, rack_powers
from console.collectors.pdu import PROFILES, assemble
from console.collectors.redfish import parse_dcmi
from console.model.checks import Status
from console.model.gpu import GpuReading, GpuSnapshot
from console.model.inventory import BmcSettings, Inventory, Node, PduSpec, RackSpec
from console.model.node import NodeSnapshot
from console.model.power import BmcPower, PduReading

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
FIXTURES = Path(__file__).parent / "fixtures" / "ipmi"


def snapshot(
    name: str, bmc_w: float | None, gpu_w: tuple[float | None, ...], error: str | None = None
) -> NodeSnapshot:
    gpus = tuple(
        GpuReading(i, f"GPU-{i}", "NVIDIA RTX PRO 6000", power_draw_w=w) for i, w in enumerate(gpu_w)
    )
    power = BmcPower(name, NOW, bmc_w, via="redfish https://bmc", error=error)
    return NodeSnapshot(name, NOW, True, gpu=GpuSnapshot(name, NOW, "nvidia-smi", "ok", gpus), power=power)


def inventory(budget: float = 2300.0) -> Inventory:
    bmc = BmcSettings(redfish="https://bmc")
    nodes = (Node("c1", "h1", rack="r", bmc=bmc), Node("c2", "h2", rack="r", bmc=bmc), Node("x", "h3"))
    pdus = (PduSpec("p1", "10.0.0.1", community="public"), PduSpec("p2", "10.0.0.2", community="public"))
    return Inventory(
        "t", "t.yaml", nodes, pdus=pdus, racks=(RackSpec("r", ("p1", "p2"), budget, 80.0, 95.0),)
    )


def pdu(name: str, watts: float | None, error: str | None = None) -> PduReading:
    return PduReading(name, NOW, watts, error=error)


@pytest.mark.parametrize(
    ("p1", "status"),
    [(1840.0, Status.OK), (1841.0, Status.WARNING), (2185.0, Status.WARNING), (2186.0, Status.CRITICAL)],
)
def test_pdu_against_rack_budget(p1: float, status: Status) -> None:
    # 80 % of 2,300 W is 1,840 W: at it is ok ("over 80 %" warns); 95 % is 2,185 W.
    snaps = {"c1": snapshot("c1", 900.0, (300.0, 300.0)), "c2": snapshot("c2", 500.0, (280.0,))}
    results = evaluate_racks(inventory(), {"p1": pdu("p1", p1), "p2": pdu("p2", 10.0)}, snaps)
    by = {(r.check, r.target): r for r in results}
    assert by[("power.pdu", "p1")].status is status
    perf = by[("power.pdu", "p1")].perfdata[0]
    assert (perf.warn, perf.crit) == (1840.0, 2185.0)


def test_rack_sums_and_headroom() -> None:
    snaps = {"c1": snapshot("c1", 900.0, (300.0, 300.0)), "c2": snapshot("c2", 500.0, (280.0,))}
    (rack,) = rack_powers(inventory(), {"p1": pdu("p1", 1000.0), "p2": pdu("p2", 450.0)}, snaps)
    assert (rack.pdu_watts, rack.bmc_watts, rack.gpu_watts) == (1450.0, 1400.0, 880.0)
    assert (rack.rest_watts, rack.headroom_w) == (520.0, 850.0)
    result = evaluate_racks(inventory(), {"p1": pdu("p1", 1000.0), "p2": pdu("p2", 450.0)}, snaps)[-1]
    assert result.status is Status.OK
    assert result.summary == (
        "PDUs 1,450 W of 2,300 W (63%); BMCs 1,400 W; GPUs 880 W; rest of the hosts 520 W; headroom 850 W"
    )


def test_sums_past_a_float_are_unknown_not_inf() -> None:
    """Every part finite, the sum not: unknown, never `inf W` in a summary, a percentage or perfdata."""
    snaps = {"c1": snapshot("c1", 1.7e308, (1.7e308, 1.7e308)), "c2": snapshot("c2", 1.7e308, (1.0,))}
    readings = {"p1": pdu("p1", 1.7e308), "p2": pdu("p2", 1.7e308)}
    (rack,) = rack_powers(inventory(), readings, snaps)
    assert (rack.pdu_watts, rack.bmc_watts, rack.gpu_watts) == (None, None, None)
    result = evaluate_racks(inventory(), readings, snaps)[-1]
    assert "inf" not in result.summary
    assert all(math.isfinite(perf.value) for perf in result.perfdata)


def test_missing_parts_never_make_a_partial_sum() -> None:
    snaps = {"c1": snapshot("c1", None, (300.0, math.nan), error="BMC 10.0.0.9 unreachable: refused")}
    readings = {"p1": pdu("p1", None, error="PDU p1 did not answer within 5s"), "p2": pdu("p2", 450.0)}
    (rack,) = rack_powers(inventory(), readings, snaps)
    assert rack.pdu_watts is None  # one PDU silent: the rack's PDU watts are unknown, not 450 W
    assert rack.bmc_watts is None
    assert rack.gpu_watts is None  # a NaN reading and a node never polled
    results = evaluate_racks(inventory(), readings, snaps)
    assert [r.status for r in results] == [Status.UNKNOWN, Status.OK, Status.UNKNOWN]
    assert results[-1].summary == "PDU watts unknown, and not every BMC reported; no BMC reading from c1, c2"


def test_rack_judged_on_bmcs_when_pdus_are_silent() -> None:
    snaps = {"c1": snapshot("c1", 1500.0, ()), "c2": snapshot("c2", 500.0, ())}
    readings = {"p1": pdu("p1", None, error="x"), "p2": pdu("p2", None, error="y")}
    result = evaluate_racks(inventory(), readings, snaps)[-1]
    assert result.status is Status.WARNING  # 2,000 W of 2,300 W: 87 %
    assert result.summary == "PDU watts unknown; BMCs 2,000 W of 2,300 W (87%); headroom 300 W"


def test_bmc_unknown_never_critical() -> None:
    node = Node("c1", "h1", bmc=BmcSettings(redfish="https://bmc"))
    (result,) = evaluate_bmc(node, snapshot("c1", None, (), error="BMC bmc did not answer within 10s"))
    assert result.status is Status.UNKNOWN
    assert result.summary == "BMC bmc did not answer within 10s"
    (ok,) = evaluate_bmc(node, snapshot("c1", 1640.0, (300.0, 300.0, 300.0, 290.0)))
    assert ok.status is Status.OK
    assert ok.summary == "BMC 1,640 W, GPUs 1,190 W, rest of the host 450 W (redfish https://bmc)"


def test_gpu_watts_need_every_gpu() -> None:
    assert node_gpu_watts(snapshot("a", 1.0, (100.0, 50.5))) == 150.5
    assert node_gpu_watts(snapshot("a", 1.0, (100.0, None))) is None
    assert node_gpu_watts(None) is None


def test_dcmi_recorded_output() -> None:
    text = (FIXTURES / "dcmi-power-reading.txt").read_text(encoding="utf-8")
    power = parse_dcmi("c1", text, "", 0)
    assert (power.watts, power.error, power.via) == (612.0, None, "ipmi dcmi")
    failed = parse_dcmi("c1", "", "Could not open device at /dev/ipmi0: No such file or directory\n", 1)
    assert failed.watts is None
    assert failed.error == (
        "ipmitool dcmi failed (exit 1): Could not open device at /dev/ipmi0: No such file or directory"
    )
    garbled = parse_dcmi("c1", "Instantaneous power reading: \x1b[2J nan Watts", "", 0)
    assert garbled.watts is None
    assert garbled.error == "ipmitool dcmi printed no instantaneous power reading"


def test_assemble_phases_and_banks() -> None:
    # An AP8641's columns as walked (values from snmpsim-data's apc-8641.snmprec), three phases made up.
    profile = PROFILES["apc-rpdu2"]
    assert profile.phase_watts is not None
    assert profile.load_amps is not None
    assert profile.load_bank is not None
    columns = {
        profile.phase_watts.oid: {"1": 122.0, "2": None},
        profile.load_amps.oid: {"1": 66.0, "2": 40.0, "3": 25.0},
        profile.load_bank.oid: {"1": 0.0, "2": 1.0, "3": 2.0},
    }
    reading = assemble(PduSpec("p", "h", community="c"), profile, columns, "name")
    assert [(p.number, p.watts) for p in reading.phases] == [(1, 1220.0), (2, None)]
    assert reading.watts is None  # no device column and one phase silent: unknown, never 1,220 W
    assert reading.amps == 6.6  # the bank-0 row only; banks 1 and 2 split it


def test_an_unreachable_node_is_judged_on_its_bmc_when_redfish_answered() -> None:
    import console.sections.power  # noqa: F401  (registers the power section)
    from console.checks.rules import evaluate
    from console.sections import registered

    assert any(section.name == "power" and section.without_node for section in registered())
    node = Node("gpu1", "10.0.0.5", bmc=BmcSettings(redfish="https://10.0.99.51"))
    power = BmcPower("gpu1", NOW, watts=480.0, via="redfish https://10.0.99.51")
    down = NodeSnapshot("gpu1", NOW, reachable=False, error="connection refused", power=power)
    results = {result.check: result for result in evaluate(node, down)}
    assert results["ssh.reachable"].status is Status.CRITICAL
    assert results["power.bmc"].status is Status.OK
    assert results["power.bmc"].summary.startswith("BMC 480 W")
    assert all(
        r.status is Status.SKIPPED for c, r in results.items() if c not in ("ssh.reachable", "power.bmc")
    )
    not_read = NodeSnapshot("gpu1", NOW, reachable=False, error="connection refused")
    assert {r.check: r.status for r in evaluate(node, not_read)}["power.bmc"] is Status.SKIPPED
