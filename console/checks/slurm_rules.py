"""Rules for a Slurm cluster, judged on the inventory's `slurm.via` node (the one whose clients read it).

Check ids:
- `slurm.controller`: `scontrol ping` says a slurmctld is UP → ok; every one DOWN → critical; no answer
  (no scontrol, a timeout) → unknown.
- `slurm.node` (target: the inventory node; Slurm nodes the inventory does not list appear by their Slurm
  name, only when not well): down, failing, not responding or drained → critical, with the reason, who set
  it and when; draining (jobs still running) → warning; otherwise ok with its state. An inventory node
  Slurm does not know → warning (its `slurm_name:`?), except the via node, which may only read the cluster.
- `slurm.queue`: a job pending longer than `thresholds.slurm_pending_minutes` (the via node's; default 30)
  for a reason other than Priority or Resources (held, a dependency, a limit, a bad constraint) → warning.
- `slurm.gres` (target: the inventory node): the GPUs Slurm has configured for the node against the GPUs
  the inventory says it has (`gpus.count`, which `gpu.count` holds the node's own report to): different →
  warning; more GPUs in use than configured → warning. The Slurm screen also sets Slurm's count beside the
  GPUs the node's live poll reports.
"""

from __future__ import annotations

from datetime import datetime

from console.checks.model import CheckResult, Status
from console.inventory.model import Node
from console.model.slurm import SlurmJob, SlurmNode, SlurmSnapshot
from console.text import clean_line

CONTROLLER = "slurm.controller"
NODE = "slurm.node"
QUEUE = "slurm.queue"
GRES = "slurm.gres"
WAITING_FINE = frozenset({"Priority", "Resources", "None", "BeginTime"})
SHOWN_JOBS = 3


def wanted_slurm(node: Node) -> bool:
    return node.slurm is not None and bool(node.slurm.members)


def planned_slurm(node: Node) -> tuple[tuple[str, str | None], ...]:
    if not wanted_slurm(node):
        return ()
    assert node.slurm is not None
    members = node.slurm.members
    return (
        (CONTROLLER, None),
        *((NODE, member.name) for member in members),
        (QUEUE, None),
        *((GRES, member.name) for member in members),
    )


def _unknown(node: Node, summary: str) -> tuple[CheckResult, ...]:
    return tuple(
        CheckResult(node.name, check, Status.UNKNOWN, summary, target=target)
        for check, target in planned_slurm(node)
    )


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at is not None else ""


def node_summary(slurm: SlurmNode) -> str:
    """`drained: bad DIMM (set by alice, 2026-12-06 11:22 UTC)`."""
    text = slurm.shown_state
    if slurm.reason:
        text += f": {slurm.reason}"
    who = ", ".join(
        part for part in (slurm.reason_by and f"set by {slurm.reason_by}", _when(slurm.reason_at)) if part
    )
    return f"{text} ({who})" if who and slurm.reason else text


def node_status(slurm: SlurmNode) -> Status:
    flags = set(slurm.flags)
    if slurm.state == "down" or flags & {"FAIL", "NOT_RESPONDING"}:
        return Status.CRITICAL
    if slurm.drain:
        return Status.WARNING if slurm.shown_state == "draining" else Status.CRITICAL
    if slurm.state in ("unknown", "error") or flags & {"INVALID", "INVALID_REG"}:
        return Status.WARNING
    return Status.OK


def _controller(node: Node, snap: SlurmSnapshot) -> CheckResult:
    text = snap.controller_text or ""
    if snap.controller is True:
        return CheckResult(node.name, CONTROLLER, Status.OK, text or "slurmctld UP")
    if snap.controller is False:
        return CheckResult(node.name, CONTROLLER, Status.CRITICAL, f"slurmctld not answering: {text}")
    return CheckResult(node.name, CONTROLLER, Status.UNKNOWN, snap.error or "scontrol ping said nothing")


def _nodes(node: Node, snap: SlurmSnapshot) -> list[CheckResult]:
    assert node.slurm is not None
    if not snap.nodes:
        summary = snap.error or "Slurm listed no nodes"
        return [
            CheckResult(node.name, NODE, Status.UNKNOWN, summary, target=m.name) for m in node.slurm.members
        ]
    results = []
    for member in node.slurm.members:
        slurm = snap.node(member.slurm_name)
        if slurm is None:
            if member.name == node.name:
                results.append(CheckResult(node.name, NODE, Status.OK, "not a Slurm node (reads the cluster)",
                                           target=member.name))  # fmt: skip
            else:
                summary = f"Slurm has no node {member.slurm_name!r} (set slurm_name: on the node?)"
                results.append(
                    CheckResult(node.name, NODE, Status.WARNING, clean_line(summary), target=member.name)
                )
            continue
        results.append(
            CheckResult(node.name, NODE, node_status(slurm), node_summary(slurm), target=member.name)
        )
    known = {member.slurm_name for member in node.slurm.members}
    for slurm in snap.nodes:  # the cluster's other nodes: only what needs a look
        if slurm.name not in known and node_status(slurm) is not Status.OK:
            results.append(
                CheckResult(node.name, NODE, node_status(slurm), node_summary(slurm), target=slurm.name)
            )
    return results


def _minutes(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60}h {minutes % 60}m" if minutes >= 60 else f"{minutes}m"


def stuck_jobs(node: Node, snap: SlurmSnapshot) -> list[tuple[float, SlurmJob]]:
    """(seconds waited, job) of the jobs pending past the via node's threshold for a reason that needs
    someone (not Priority, Resources or a begin time), longest first."""
    limit = node.thresholds.slurm_pending_minutes * 60
    stuck: list[tuple[float, SlurmJob]] = []
    for job in snap.pending():
        if job.reason in WAITING_FINE or job.submitted is None:
            continue
        waited = (snap.taken_at - job.submitted).total_seconds()
        if waited > limit:
            stuck.append((waited, job))
    return sorted(stuck, key=lambda item: -item[0])


def _queue(node: Node, snap: SlurmSnapshot) -> CheckResult:
    if snap.error and not snap.jobs and snap.source is None:
        return CheckResult(node.name, QUEUE, Status.UNKNOWN, snap.error)
    stuck = stuck_jobs(node, snap)
    counts = f"{len(snap.running())} running, {len(snap.pending())} pending"
    if not stuck:
        return CheckResult(node.name, QUEUE, Status.OK, counts)
    shown = "; ".join(
        f"job {job.job_id} ({job.name}, {job.user or '?'}) pending {_minutes(waited)}: {job.reason or '?'}"
        for waited, job in stuck[:SHOWN_JOBS]
    )
    more = f" and {len(stuck) - SHOWN_JOBS} more" if len(stuck) > SHOWN_JOBS else ""
    return CheckResult(node.name, QUEUE, Status.WARNING, f"{len(stuck)} stuck: {shown}{more} ({counts})")


def _gres(node: Node, snap: SlurmSnapshot) -> list[CheckResult]:
    assert node.slurm is not None
    results = []
    for member in node.slurm.members:
        slurm = snap.node(member.slurm_name)
        if slurm is None:
            status = Status.UNKNOWN if not snap.nodes else Status.OK
            summary = snap.error or "not a Slurm node" if not snap.nodes else "not a Slurm node"
            results.append(CheckResult(node.name, GRES, status, summary, target=member.name))
            continue
        configured = slurm.gpus or 0
        used = f", {slurm.gpus_used} in use" if slurm.gpus_used is not None else ""
        if slurm.gpus_used is not None and slurm.gpus_used > configured:
            summary = f"Slurm: {slurm.gpus_used} GPUs in use but {configured} configured"
            results.append(CheckResult(node.name, GRES, Status.WARNING, summary, target=member.name))
        elif member.gpus is not None and member.gpus != configured:
            summary = f"Slurm has {configured} GPUs{used}; the node has {member.gpus} (gpus.count)"
            results.append(CheckResult(node.name, GRES, Status.WARNING, summary, target=member.name))
        else:
            node_has = f"; the node has {member.gpus}" if member.gpus is not None else ""
            summary = f"Slurm has {configured} GPUs{used}{node_has}"
            results.append(CheckResult(node.name, GRES, Status.OK, summary, target=member.name))
    return results


def evaluate_slurm(node: Node, snap: SlurmSnapshot | None) -> tuple[CheckResult, ...]:
    if not wanted_slurm(node):
        return ()
    if snap is None:
        return _unknown(node, "Slurm not read")
    return (_controller(node, snap), *_nodes(node, snap), _queue(node, snap), *_gres(node, snap))
