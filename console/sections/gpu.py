"""The GPU section: read by the GPU stream (or the fleet's Prometheus), judged by console.checks.gpu_rules.

On a node reached over SSH, one `nvidia-smi --query-gpu=... -lms N` stream (N from the node's refresh) and a
process list every `processes_every` seconds; on a local node (NVML in-process) or a transport without
streams, the one-shot collector per poll; with `gpus.source: prometheus`, the DCGM series per poll.
"""

from __future__ import annotations

from datetime import UTC, datetime

from console.checks.gpu_rules import evaluate_gpu, planned_gpu
from console.collectors.gpu import POLL_COMMAND, collect_gpus
from console.inventory import settings as inventory
from console.model.checks import CheckResult
from console.model.columns import NodeTab
from console.model.gpu import GpuSnapshot, GpuSource
from console.model.inventory import Node
from console.model.node import NodeSnapshot
from console.sections import gpu_columns
from console.sections.registry import Planned, Section
from console.sections.stream import Poll, SectionStream, Stream, StreamContext, StreamHost
from console.streams.gpu_section import APPS_COMMAND, GpuSectionStream
from console.streams.gpu_stream import GpuStream, gpu_stream_command
from console.streams.pmon import pmon_command
from console.transport.base import StreamingTransport, Transport
from console.transport.readonly import Argv, Text, Word

GPU_INTERVAL_MIN_S, GPU_INTERVAL_MAX_S = 0.5, 10.0


def gpu_source(node: Node) -> GpuSource:
    """Where the node's GPU readings come from: its own nvidia-smi (or NVML), or the fleet's Prometheus."""
    return "prometheus" if node.gpus is not None and node.gpus.source == "prometheus" else "nvidia-smi"


class _FromPrometheus:
    """`gpus.source: prometheus`: the DCGM series, asked once per poll (no stream on the node)."""

    def __init__(self, source: StreamHost, node: Node) -> None:
        self.source, self.node = source, node

    def latest(self, poll: Poll) -> None:
        return None

    async def read(self, poll: Poll) -> GpuSnapshot:
        return await self.source.gpus_from_prometheus(self.node)

    def kick(self) -> None:
        pass

    async def close(self) -> None:
        pass


def _open(ctx: StreamContext) -> SectionStream | None:
    node = ctx.node
    if gpu_source(node) == "prometheus":
        return _FromPrometheus(ctx.source, node)
    if not ctx.streaming:
        return None  # a local node (NVML in-process) or a transport without streams: one shot per poll
    assert isinstance(ctx.transport, StreamingTransport)
    interval = ctx.source.gpu_interval or min(max(node.refresh, GPU_INTERVAL_MIN_S), GPU_INTERVAL_MAX_S)
    stream = GpuStream(ctx.transport, interval=interval, open_timeout=node.ssh.command_timeout)
    return GpuSectionStream(stream, ctx.transport, node, processes_every=ctx.source.processes_every)


async def _collect(transport: Transport, node: Node) -> GpuSnapshot:
    return await collect_gpus(transport, timeout=node.ssh.command_timeout)


def _timed_out(node: Node, message: str) -> GpuSnapshot:
    return GpuSnapshot(
        node.name, datetime.now(UTC), gpu_source(node), "error", error=f"no GPU data: {message}"
    )


def _planned(node: Node) -> Planned:
    return tuple((check, None) for check in planned_gpu(node))


def _evaluate(node: Node, snapshot: NodeSnapshot) -> tuple[CheckResult, ...]:
    return evaluate_gpu(node, snapshot.gpu)


def _stream_rule() -> Text:
    """The stream's command for any interval (whole milliseconds), built from a real one."""
    before, after = gpu_stream_command(86_399_999).split("86399999")
    return Text(before, Word("[1-9][0-9]{0,7}"), after)


def _pmon_rule() -> Argv:
    """`nvidia-smi pmon -s um -d N -i 0,1,...` for any delay and any set of GPU indices, from a real one."""
    holes = {"7": Word("[0-9]{1,2}"), "0,1": Word("[0-9]{1,3}(,[0-9]{1,3})*")}
    return Argv(*(holes.get(word, word) for word in pmon_command(7, (0, 1)).split()))


# Every node is asked about its GPUs (a node expecting none says so in gpu_rules).
GPU = Section(
    "gpu",
    lambda node: True,
    _planned,
    _evaluate,
    read_only_commands=(POLL_COMMAND, _stream_rule(), APPS_COMMAND, _pmon_rule()),
    stream=Stream(_open, _collect),
    timed_out=_timed_out,
    settings=(inventory.GPUS,),
    columns=gpu_columns.COLUMNS,
    cells=gpu_columns.cells,
    tab=NodeTab("gpus", "GPUs", 1),
)
