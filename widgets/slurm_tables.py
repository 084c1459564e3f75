"""The Slurm screen's tables: the cluster's nodes (state, reason, who and when, GPUs configured / in use /
reported, which job holds which GPU) and its queue (running and pending jobs). Render only: the snapshot
comes parsed (console.model.slurm) and the levels judged (the Slurm checks), keyed by Slurm node name.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from rich.text import Text

from console.model.checks import Status
from console.model.gpu import GpuSnapshot
from console.model.inventory import Node
from console.model.node import NodeSnapshot
from console.model.slurm import SlurmJob, SlurmNode, SlurmSnapshot
from widgets.keyed_table import Column, KeyedTable, node_key
from widgets.status import count_text, duration, level_style, status_text

Levels = Mapping[str, Status]  # Slurm node name -> its slurm.node level


def job_key(job_id: str) -> str:
    return f"job|{job_id}"


def _when(at: datetime | None) -> str:
    return at.strftime("%m-%d %H:%M") if at is not None else ""


def gpu_jobs_text(snapshot: SlurmSnapshot, name: str, count: int | None) -> Text:
    """`0-3 job 101 · 4-7 free`: the node's GPUs, in runs held by one job (from the jobs' GRES index)."""
    held = snapshot.gpu_jobs(name)
    indexes = sorted(set(range(count or 0)) | set(held))
    runs: list[tuple[int, int, str | None]] = []  # first, last, job id (None: free)
    for index in indexes:
        job = held.get(index)
        owner = job.job_id if job is not None else None
        if runs and runs[-1][2] == owner and runs[-1][1] == index - 1:
            runs[-1] = (runs[-1][0], index, owner)
        else:
            runs.append((index, index, owner))
    text = Text()
    for position, (first, last, owner) in enumerate(runs[:8]):
        if position:
            text.append(" · ", style="dim")
        # The space ends the plain run: SVG viewers drop a styled run's leading spaces.
        text.append(f"{first} " if first == last else f"{first}-{last} ")
        text.append(f"job {owner}" if owner else "free", style="bold" if owner else "dim")
    if len(runs) > 8:
        text.append(f" · +{len(runs) - 8}", style="dim")
    return text


def node_cells(
    snapshot: SlurmSnapshot, node: SlurmNode, level: Status | None, reported: int | None
) -> dict[str, Text]:
    style = level_style(level)
    member = snapshot.member(node.name)
    label = node.name if member is None or member.name == node.name else f"{node.name} ({member.name})"
    who = " · ".join(part for part in (node.reason_by or "", _when(node.reason_at)) if part)
    gpus_style = (
        "bold yellow" if reported is not None and node.gpus is not None and reported != node.gpus else ""
    )
    return {
        "status": status_text(level) if level is not None else Text(""),
        "node": Text(label, style="bold"),
        "partitions": Text(",".join(node.partitions), style="dim"),
        "state": Text(node.shown_state, style=style),
        "gpus": count_text(node.gpus, gpus_style),
        "used": count_text(node.gpus_used),
        "reported": count_text(reported, gpus_style),
        "holders": gpu_jobs_text(snapshot, node.name, node.gpus),
        "reason": Text(node.reason or "", style=style),
        "who": Text(who, style="dim"),
    }


class SlurmNodeTable(KeyedTable):
    """One row per Slurm node, keyed node|NAME."""

    COLUMNS: tuple[Column, ...] = (
        Column("status", "", 6, 0, keep=True),
        Column("node", "Node", 10, 0, keep=True),
        Column("partitions", "Partitions", 8, 3),
        Column("state", "State", 9, 0),
        Column("gpus", "GPUs", 4, 1),
        Column("used", "Used", 4, 1),
        Column("reported", "Seen", 4, 2),  # what the node's own poll sees (a second "Node" read as a name)
        Column("holders", "GPU → job", 14, 2),
        Column("reason", "Reason", 12, 0),
        Column("who", "Set by · when", 12, 2, flex=True),
    )

    def show(self, snapshot: SlurmSnapshot, levels: Levels, reported: Mapping[str, int | None]) -> None:
        self.sync(
            {
                node_key(node.name): node_cells(
                    snapshot, node, levels.get(node.name), reported.get(node.name)
                )
                for node in snapshot.nodes
            }
        )


def _age(job: SlurmJob, now: datetime) -> str:
    if job.state == "RUNNING":
        if job.started is not None:
            return duration(max((now - job.started).total_seconds(), 0))
        return duration(job.elapsed_s) if job.elapsed_s is not None else ""
    return duration(max((now - job.submitted).total_seconds(), 0)) if job.submitted is not None else ""


def job_cells(job: SlurmJob, now: datetime, stuck: bool) -> dict[str, Text]:
    running = job.state == "RUNNING"
    state_style = "green" if running else ("bold yellow" if stuck else "")
    where = ",".join(job.nodes[:4]) + (f" +{len(job.nodes) - 4}" if len(job.nodes) > 4 else "")
    return {
        "job": Text(job.job_id, style="bold"),
        "state": Text(job.state.lower(), style=state_style),
        "user": Text(job.user or "", style=""),
        "age": Text(_age(job, now), justify="right"),
        "nodes": Text(where if running else "", style="dim"),
        "gpus": count_text(job.gpus),
        "reason": Text("" if running else job.reason or "", style="yellow" if stuck else "dim"),
        "name": Text(job.name),
    }


class SlurmQueueTable(KeyedTable):
    """Running jobs, then pending ones (longest waiting first); keyed job|ID."""

    COLUMNS: tuple[Column, ...] = (
        Column("job", "Job", 6, 0, keep=True),
        Column("state", "State", 8, 0),
        Column("user", "User", 8, 0),
        Column("age", "Elapsed/waited", 8, 1),
        Column("nodes", "Nodes", 8, 1),
        Column("gpus", "GPUs", 4, 1),
        Column("reason", "Reason", 10, 0),
        Column("name", "Name", 10, 2, flex=True),
    )

    def show(self, snapshot: SlurmSnapshot, stuck: frozenset[str]) -> None:
        now = snapshot.taken_at
        pending = sorted(snapshot.pending(), key=lambda job: job.submitted or now)
        others = [job for job in snapshot.jobs if job.state not in ("RUNNING", "PENDING")]
        rows = {
            job_key(job.job_id): job_cells(job, now, job.job_id in stuck)
            for job in (*snapshot.running(), *pending, *others)
        }
        self.sync(rows)
        self.order(rows)


def node_gpu_note(
    node: Node, gpu: GpuSnapshot | None, latest: Mapping[str, NodeSnapshot], *, now: datetime
) -> Text | None:
    """The node GPU tab's Slurm line: each GPU, the job that holds it (from the cluster's GRES index, read
    on the via node) and its utilisation now: `Slurm gpu01 mixed · GPU 0 job 101 bob 93% · GPU 1 free 0%`.
    None when the node is in no Slurm cluster or the cluster was not read yet."""
    if node.slurm is None:
        return None
    via = latest.get(node.slurm.via)
    cluster = via.slurm if via is not None else None
    if cluster is None or not cluster.nodes:
        return None
    name = node.slurm_name or node.name
    slurm = cluster.node(name)
    text = Text(f"Slurm {name} ", style="bold")
    text.append(slurm.shown_state if slurm is not None else "not in Slurm's node list", style="yellow")
    if slurm is not None and slurm.reason:
        text.append(f": {slurm.reason}", style="yellow")
    held = cluster.gpu_jobs(name)
    readings = {reading.index: reading for reading in (gpu.gpus if gpu is not None else ())}
    for index in sorted(set(readings) | set(held))[:16]:
        job, reading = held.get(index), readings.get(index)
        util = reading.util_gpu_pct if reading is not None else None
        text.append(" · ", style="dim")
        text.append(f"GPU {index} ")
        text.append(
            f"job {job.job_id} {job.user or ''}".rstrip() if job else "free", style="bold" if job else "dim"
        )
        text.append(f" {util:.0f}%" if util is not None else " –")
    age = (now - cluster.taken_at).total_seconds()
    if age > 60:
        text.append(f" · read {cluster.taken_at:%H:%M:%S} UTC on {cluster.via}", style="dim")
    return text
