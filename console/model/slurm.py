"""The Slurm section's snapshot and settings: what the `via` node's sinfo, squeue and scontrol said.

All text here came from Slurm (so, from the nodes) and was cleaned where it entered (console.text); counts
that Slurm did not report are None, never 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

SlurmSource = Literal["json", "text"]


@dataclass(frozen=True, slots=True)
class SlurmMember:
    """An inventory node in a Slurm cluster: its inventory name, its Slurm name, the GPUs the inventory
    says it has (gpus.count; None when not said)."""

    name: str
    slurm_name: str
    gpus: int | None = None


@dataclass(frozen=True, slots=True)
class SlurmSettings:
    """`slurm: {via: NODE}` (top level, in defaults or per group); a node's Slurm name is `slurm_name:`.

    via: the inventory node whose squeue/sinfo/scontrol are run over SSH.
    members: set by the loader on the via node only: (inventory name, Slurm name) of every node that
      names it as via (a value written in the file is replaced).
    interval: seconds between two reads of the cluster (each costs slurmctld a full node and job list):
      polls in between reuse the last read; `--check` and an action always read afresh.
    """

    via: str
    members: tuple[SlurmMember, ...] = ()
    interval: float = 15.0


@dataclass(frozen=True, slots=True)
class SlurmNode:
    name: str
    state: str  # the base state, lower case: idle, mixed, allocated, down, unknown, future...
    flags: tuple[str, ...] = ()  # upper case: DRAIN, FAIL, NOT_RESPONDING, MAINTENANCE, ...
    reason: str | None = None
    reason_by: str | None = None
    reason_at: datetime | None = None
    partitions: tuple[str, ...] = ()
    gpus: int | None = None  # GPUs configured (gres gpu)
    gpus_used: int | None = None  # GPUs allocated to jobs (gres_used gpu)

    @property
    def drain(self) -> bool:
        return "DRAIN" in self.flags

    @property
    def shown_state(self) -> str:
        """sinfo's long name: drained (nothing running), draining (jobs still on it), or the base state."""
        if self.drain:
            return "draining" if self.state in ("mixed", "allocated", "completing") else "drained"
        if "FAIL" in self.flags:
            return "failing" if self.state in ("mixed", "allocated") else "fail"
        extra = "".join(
            f"+{flag.lower()}" for flag in self.flags if flag in ("NOT_RESPONDING", "MAINTENANCE")
        )
        return self.state + extra


@dataclass(frozen=True, slots=True)
class SlurmJob:
    job_id: str
    name: str
    user: str | None
    state: str  # upper case: RUNNING, PENDING, ...
    partition: str | None = None
    nodes: tuple[str, ...] = ()  # the job's nodes, expanded from Slurm's host list
    gpus: int | None = None  # GPUs the job holds (running) or asks for (pending)
    reason: str | None = None  # why a pending job waits (None, Priority, Resources, JobHeldUser...)
    submitted: datetime | None = None
    started: datetime | None = None
    elapsed_s: float | None = None  # from the text fallback (squeue %M) when no start time is known
    gpu_index: tuple[tuple[str, tuple[int, ...]], ...] = ()  # per node: the GPU indexes the job holds


@dataclass(frozen=True, slots=True)
class SlurmSnapshot:
    """One read of the cluster through its via node. `error` says what could not be read."""

    via: str
    taken_at: datetime
    controller: bool | None = None  # scontrol ping: True UP, False DOWN, None not known
    controller_text: str | None = None
    nodes: tuple[SlurmNode, ...] = ()
    jobs: tuple[SlurmJob, ...] = ()
    source: SlurmSource | None = None
    parser: str | None = None  # data_parser version (v0.0.38 ...) or "text"
    version: str | None = None  # Slurm's release, as its JSON meta says
    error: str | None = None
    truncated: bool = False  # more nodes or jobs than kept
    members: tuple[SlurmMember, ...] = field(default=())

    @property
    def partitions(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for node in self.nodes:
            for name in node.partitions:
                seen.setdefault(name, None)
        return tuple(seen)

    def node(self, name: str) -> SlurmNode | None:
        return next((node for node in self.nodes if node.name == name), None)

    def running(self) -> tuple[SlurmJob, ...]:
        return tuple(job for job in self.jobs if job.state == "RUNNING")

    def pending(self) -> tuple[SlurmJob, ...]:
        return tuple(job for job in self.jobs if job.state == "PENDING")

    def gpu_jobs(self, slurm_name: str) -> dict[int, SlurmJob]:
        """GPU index on that node -> the running job that holds it (from the jobs' GRES index detail)."""
        held: dict[int, SlurmJob] = {}
        for job in self.running():
            for node, indexes in job.gpu_index:
                if node == slurm_name:
                    for index in indexes:
                        held[index] = job
        return held

    def member(self, slurm_name: str) -> SlurmMember | None:
        return next((member for member in self.members if member.slurm_name == slurm_name), None)

    def slurm_name(self, inventory_name: str) -> str:
        return next((m.slurm_name for m in self.members if m.name == inventory_name), inventory_name)
