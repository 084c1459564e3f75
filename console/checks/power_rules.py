"""Rules for power: a node's BMC (`power.bmc`), each PDU against its rack's budget (`power.pdu`) and each
rack as a whole (`power.rack`). Pure functions, no I/O.

- `power.bmc` (a node with `bmc:`): ok with the BMC's watts beside its GPUs'; a BMC that was not reached or
  did not say is UNKNOWN, never critical (the host may be fine; the reading is what is missing).
- `power.pdu` (node = the rack, target = the PDU): the PDU's watts against the rack's `budget_w`: above
  `crit_pct` (95) critical, above `warn_pct` (80) warning; a PDU that does not answer, or reports no watts, is
  UNKNOWN.
- `power.rack` (node = the rack): its PDUs' watts summed against the budget with the same thresholds, the
  sum of its nodes' BMC watts and GPU watts beside it (the difference is what the hosts draw besides their
  GPUs) and the headroom. Without a PDU reading it is judged on the BMCs' sum, and says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from console.model.checks import CheckResult, Perf, Status
from console.model.inventory import Inventory, Node
from console.model.node import NodeSnapshot
from console.model.power import BmcPower, PduReading, RackPower, gpu_watts, rack_power
from console.text import finite

BMC = "power.bmc"
PDU = "power.pdu"
RACK = "power.rack"


def watts(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f} W"


def planned_bmc(node: Node) -> tuple[tuple[str, str | None], ...]:
    return ((BMC, None),) if node.bmc is not None else ()


def node_gpu_watts(snapshot: NodeSnapshot | None) -> float | None:
    """The node's GPUs' summed draw from its GPU snapshot; None unless every GPU reported one."""
    if snapshot is None or snapshot.gpu is None or snapshot.gpu.status != "ok" or not snapshot.gpu.gpus:
        return None
    return gpu_watts(finite(gpu.power_draw_w) for gpu in snapshot.gpu.gpus)


def _gpu_watts(node: Node, snapshot: NodeSnapshot | None) -> float | None:
    """A rack member's GPU watts: a node that expects no GPUs and has no GPU tooling draws none (0 W)."""
    gpu = snapshot.gpu if snapshot is not None else None
    if node.gpus is None and gpu is not None and gpu.status == "no_tooling":
        return 0.0
    return node_gpu_watts(snapshot)


def evaluate_bmc(node: Node, snapshot: NodeSnapshot) -> tuple[CheckResult, ...]:
    power: BmcPower | None = snapshot.power
    if power is None:
        return (CheckResult(node.name, BMC, Status.UNKNOWN, "no BMC data"),)
    if power.error is not None or power.watts is None:
        reason = power.error or "the BMC reports no power reading"
        return (
            CheckResult(
                node.name, BMC, Status.UNKNOWN, reason, fix="check the BMC's address and credentials"
            ),
        )
    gpus = node_gpu_watts(snapshot)
    summary = f"BMC {watts(power.watts)}"
    perfdata = [Perf("bmc_w", power.watts, "W")]
    if gpus is not None:
        summary += f", GPUs {watts(gpus)}, rest of the host {watts(power.watts - gpus)}"
        perfdata.append(Perf("gpu_w", gpus, "W"))
    return (CheckResult(node.name, BMC, Status.OK, summary + f" ({power.via})", perfdata=tuple(perfdata)),)


def planned_racks(inventory: Inventory) -> tuple[tuple[str, str, str | None], ...]:
    """(rack, check id, target) of every fleet power result, known before anything runs."""
    planned: list[tuple[str, str, str | None]] = []
    for rack in inventory.racks:
        planned += [(rack.name, PDU, pdu) for pdu in rack.pdus]
        planned.append((rack.name, RACK, None))
    return tuple(planned)


def rack_powers(
    inventory: Inventory, readings: Mapping[str, PduReading], snapshots: Mapping[str, NodeSnapshot]
) -> tuple[RackPower, ...]:
    """Every rack's figures from the PDU readings and the nodes' latest snapshots (missing: not read)."""
    racks = []
    for rack in inventory.racks:
        members = [node for node in inventory.nodes if node.rack == rack.name]
        pdus = [readings.get(name) or _unread(name) for name in rack.pdus]
        nodes = [
            (
                node.name,
                node.bmc is not None,
                snapshots[node.name].power if node.name in snapshots else None,
                _gpu_watts(node, snapshots.get(node.name)),
            )
            for node in members
        ]
        racks.append(
            rack_power(
                rack.name,
                budget_w=rack.budget_w,
                warn_pct=rack.warn_pct,
                crit_pct=rack.crit_pct,
                pdus=pdus,
                nodes=nodes,
            )
        )
    return tuple(racks)


def _unread(name: str) -> PduReading:
    from datetime import UTC, datetime

    return PduReading(name, datetime.now(UTC), error="not read")


def _level(value: float | None, rack: RackPower) -> Status:
    if value is None or rack.budget_w is None:
        return Status.UNKNOWN if value is None else Status.OK
    pct = 100.0 * value / rack.budget_w
    if pct > rack.crit_pct:
        return Status.CRITICAL
    return Status.WARNING if pct > rack.warn_pct else Status.OK


def _of_budget(value: float, rack: RackPower) -> str:
    if rack.budget_w is None:
        return watts(value)
    return f"{watts(value)} of {watts(rack.budget_w)} ({100.0 * value / rack.budget_w:.0f}%)"


def _limits(rack: RackPower) -> dict[str, float | None]:
    budget = rack.budget_w
    if budget is None:
        return {"warn": None, "crit": None}
    return {"warn": budget * rack.warn_pct / 100.0, "crit": budget * rack.crit_pct / 100.0}


def evaluate_rack(rack: RackPower) -> tuple[CheckResult, ...]:
    results = []
    for reading in rack.pdus:
        if reading.error is not None or reading.watts is None:
            reason = reading.error or "the PDU reports no watts"
            if reading.error is None and reading.amps is not None:
                reason += f" (its load is {reading.amps:g} A)"
            results.append(CheckResult(rack.rack, PDU, Status.UNKNOWN, reason, target=reading.pdu))
            continue
        summary = _of_budget(reading.watts, rack)
        if rack.budget_w is not None:
            summary = f"{watts(reading.watts)}, {100.0 * reading.watts / rack.budget_w:.0f}% of the rack's "
            summary += f"{watts(rack.budget_w)} budget"
        if reading.amps is not None:
            summary += f", {reading.amps:g} A"
        perf = Perf("pdu_w", reading.watts, "W", **_limits(rack))
        status = _level(reading.watts, rack)
        results.append(CheckResult(rack.rack, PDU, status, summary, target=reading.pdu, perfdata=(perf,)))
    results.append(_rack_result(rack))
    return tuple(results)


def _rack_result(rack: RackPower) -> CheckResult:
    parts, perfdata = [], []
    pdu, bmc, gpu = rack.pdu_watts, rack.bmc_watts, rack.gpu_watts
    judged, status = pdu, _level(pdu, rack)
    if pdu is not None:
        parts.append(f"PDUs {_of_budget(pdu, rack)}")
        perfdata.append(Perf("pdu_w", pdu, "W", **_limits(rack)))
    elif bmc is not None:
        judged, status = bmc, _level(bmc, rack)
        parts.append(f"PDU watts unknown; BMCs {_of_budget(bmc, rack)}")
    elif any(node.has_bmc for node in rack.nodes):
        parts.append("PDU watts unknown, and not every BMC reported")
    else:
        parts.append("PDU watts unknown (no BMC in the rack to judge by)")
    if bmc is not None and pdu is not None:
        parts.append(f"BMCs {watts(bmc)}")
    if gpu is not None:
        parts.append(f"GPUs {watts(gpu)}")
        perfdata.append(Perf("gpu_w", gpu, "W"))
    if rack.rest_watts is not None:
        parts.append(f"rest of the hosts {watts(rack.rest_watts)}")
    if bmc is not None:
        perfdata.append(Perf("bmc_w", bmc, "W"))
    if judged is not None and rack.budget_w is not None:
        parts.append(f"headroom {watts(rack.budget_w - judged)}")
    missing = [node.node for node in rack.nodes if node.has_bmc and node.bmc_watts is None]
    if missing:
        parts.append(f"no BMC reading from {', '.join(missing)}")
    return CheckResult(rack.rack, RACK, status, "; ".join(parts), perfdata=tuple(perfdata))


def evaluate_racks(
    inventory: Inventory, readings: Mapping[str, PduReading], snapshots: Mapping[str, NodeSnapshot]
) -> tuple[CheckResult, ...]:
    return tuple(
        result for rack in rack_powers(inventory, readings, snapshots) for result in evaluate_rack(rack)
    )


def rack_levels(results: Iterable[CheckResult]) -> dict[tuple[str, str | None], Status]:
    """(rack, PDU or None for the rack) -> its level, from the power results: what the rack view colours."""
    return {(r.node, r.target): r.status for r in results if r.check in (PDU, RACK)}


def unknown_racks(inventory: Inventory, summary: str) -> tuple[CheckResult, ...]:
    return tuple(
        CheckResult(rack, check, Status.UNKNOWN, summary, target=target)
        for rack, check, target in planned_racks(inventory)
    )
