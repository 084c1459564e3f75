"""Power: what a PDU (SNMP) and a node's BMC (Redfish, IPMI DCMI) report, and a rack's sum against its budget.

Standard library only. Every number is finite or None (a reading the device did not give); `error` says why a
reading is missing as a whole. `rack_power` is the one place a rack's figures are added up: the checks and
the rack view both read its result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from console.text import finite

BmcSource = Literal["Power", "EnvironmentMetrics", "dcmi"]


@dataclass(frozen=True, slots=True)
class PduPhase:
    number: int
    watts: float | None = None
    amps: float | None = None
    voltage: float | None = None


@dataclass(frozen=True, slots=True)
class PduReading:
    """One PDU's answer: device watts (None: it reports none), its phases, and what it calls itself."""

    pdu: str  # the inventory's name
    taken_at: datetime
    watts: float | None = None
    amps: float | None = None  # total load current where the PDU reports one (rPDULoadStatusLoad)
    phases: tuple[PduPhase, ...] = ()
    name: str | None = None  # sysName, as the PDU says it (cleaned)
    profile: str = ""
    error: str | None = None  # set: unreachable or unreadable; the numbers are None


@dataclass(frozen=True, slots=True)
class ChassisPower:
    chassis: str  # the Redfish chassis id, or "dcmi"
    watts: float | None
    source: BmcSource


@dataclass(frozen=True, slots=True)
class BmcPower:
    """A node's power as its BMC reports it: the power section of a NodeSnapshot."""

    node: str
    taken_at: datetime
    watts: float | None = None  # the node's draw: its chassis summed (None: not reported)
    chassis: tuple[ChassisPower, ...] = ()
    via: str = ""  # "redfish https://…" or "ipmi dcmi"
    error: str | None = None  # set: the BMC was not reached or its answer was unreadable


@dataclass(frozen=True, slots=True)
class NodePower:
    node: str
    bmc_watts: float | None
    gpu_watts: float | None
    bmc_error: str | None = None  # why bmc_watts is None (no BMC declared: None and no error)
    has_bmc: bool = False


@dataclass(frozen=True, slots=True)
class RackPower:
    """A rack's power: its PDUs against the budget, and what its nodes' BMCs and GPUs say they draw.

    `rest_watts` (BMC minus GPU) is what the hosts draw beside their GPUs; `headroom_w` is the budget less
    the PDUs' watts. Each sum is None unless every part of it was read: a partial sum would flatter."""

    rack: str
    budget_w: float | None
    warn_pct: float
    crit_pct: float
    pdus: tuple[PduReading, ...]
    nodes: tuple[NodePower, ...]

    @property
    def pdu_watts(self) -> float | None:
        return _sum(reading.watts for reading in self.pdus) if self.pdus else None

    @property
    def bmc_watts(self) -> float | None:
        with_bmc = [node for node in self.nodes if node.has_bmc]
        return _sum(node.bmc_watts for node in with_bmc) if with_bmc else None

    @property
    def gpu_watts(self) -> float | None:
        return _sum(node.gpu_watts for node in self.nodes) if self.nodes else None

    @property
    def rest_watts(self) -> float | None:
        bmc, gpu = self.bmc_watts, self.gpu_watts
        return None if bmc is None or gpu is None else bmc - gpu

    @property
    def headroom_w(self) -> float | None:
        watts = self.pdu_watts
        return None if watts is None or self.budget_w is None else self.budget_w - watts

    @property
    def pdu_pct(self) -> float | None:
        watts = self.pdu_watts
        return None if watts is None or not self.budget_w else 100.0 * watts / self.budget_w


def _sum(values: Iterable[float | None]) -> float | None:
    total = 0.0
    for value in values:
        if value is None:
            return None
        total += value
    return finite(total)  # finite parts can still sum past a float: unknown, not inf


def rack_power(
    rack: str,
    *,
    budget_w: float | None,
    warn_pct: float,
    crit_pct: float,
    pdus: Iterable[PduReading],
    nodes: Iterable[tuple[str, bool, BmcPower | None, float | None]],
) -> RackPower:
    """A rack's figures from its PDU readings and, per node, (name, has a BMC, its BMC reading, its GPUs'
    watts)."""
    members = []
    for name, has_bmc, bmc, gpu_watts in nodes:
        error = None
        if has_bmc:
            error = "not read" if bmc is None else bmc.error
        watts = None if bmc is None else bmc.watts
        if has_bmc and watts is None and error is None:
            error = "the BMC reports no power reading"
        members.append(NodePower(name, watts, gpu_watts, error, has_bmc))
    return RackPower(rack, budget_w, warn_pct, crit_pct, tuple(pdus), tuple(members))


def gpu_watts(powers: Iterable[float | None] | None) -> float | None:
    """A node's GPUs' draw summed; None when any GPU's reading is missing (or nothing was read)."""
    if powers is None:
        return None
    values = list(powers)
    return _sum(values) if values else None


def by_name(readings: Iterable[PduReading]) -> Mapping[str, PduReading]:
    return {reading.pdu: reading for reading in readings}
