"""A section's stream: how the snapshot source keeps one section of a node current without a process per poll.

A section read over a long-lived remote process (a sample stream, an event stream, a kept shell) declares
`stream=Stream(open, fallback)` instead of `collect`. `StreamingSource` iterates the registry and names none:

- `open(ctx)` is called once per node, on its first poll, with the node, its transport and the source's
  settings (`ctx.streaming`: the transport can keep a remote stream). It returns the node's
  `SectionStream`, or None when this node cannot keep one (a local node, a wrapper without streams).
- `fallback(transport, node)` is the one-shot collector the source runs on every poll of a node that
  `open` gave None for: same snapshot type, one command per read.
- Per poll the source calls the stream's `latest(poll)`: its current value with no I/O, or None when the
  poll must wait. Then it awaits `read(poll)` beside the on-demand collectors, under the poll's deadline
  (`poll.wait`: seconds a first answer may take). A read that misses the deadline reads as the section's
  `timed_out` placeholder. `kick()` comes after every successful connect (a stream waiting out a backoff
  may start now); `close()` when the source closes.

Adding one (say an `nvidia-smi pmon` stream filling a `gpu_utilisation` field of NodeSnapshot):

    class PmonStream:                                  # console/streams/pmon.py
        def latest(self, poll: Poll) -> PmonSnapshot | None: ...
        async def read(self, poll: Poll) -> PmonSnapshot: ...
        def kick(self) -> None: ...
        async def close(self) -> None: ...

    PMON = Stream(                                     # console/sections/pmon.py
        open=lambda ctx: PmonStream(ctx.transport) if ctx.streaming else None,
        fallback=collect_pmon_once,                    # async (transport, node) -> PmonSnapshot
    )
    GPU_UTILISATION = Section("gpu_utilisation", wanted, planned, evaluate, stream=PMON,
                              read_only_commands=(PMON_COMMAND,), timed_out=timed_out_pmon)

and one `register(GPU_UTILISATION)` line in console/sections/__init__.py. Every command the stream or the
fallback runs goes in `read_only_commands`: `--check` opens streams through the read-only wrapper too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from console.model.inventory import Node
from console.transport.base import Transport

if TYPE_CHECKING:
    from console.model.gpu import GpuSnapshot


@dataclass(frozen=True, slots=True)
class Poll:
    """What one poll of a node asks of a stream."""

    wait: float  # seconds a first answer may take (the poll's deadline bounds it as well)
    force: bool = False  # the operator's refresh: re-read now what can be re-read
    warm: bool = True  # not the node's cold start: slow background reads may begin
    one_shot: bool = False  # --check: the only poll; wait for what a full answer needs


class SectionStream(Protocol):
    """One node's long-lived read of one section."""

    def latest(self, poll: Poll) -> Any | None:
        """The section's current value without I/O, or None: the poll awaits `read` instead."""
        ...

    async def read(self, poll: Poll) -> Any:
        """The value after waiting up to `poll.wait` (the first sample, a fresh report, a re-list)."""
        ...

    def kick(self) -> None:
        """The node is connected again: retry now if waiting out a backoff."""
        ...

    async def close(self) -> None: ...


class StreamHost(Protocol):
    """What a stream factory may read of the source that opens it: its settings and the fleet's Prometheus."""

    @property
    def one_shot(self) -> bool: ...

    @property
    def gpu_interval(self) -> float | None: ...

    @property
    def docker_safety_every(self) -> float: ...

    @property
    def disk_every(self) -> float: ...

    @property
    def processes_every(self) -> float | None: ...

    @property
    def scratch(self) -> Mapping[str, tuple[str, ...]]: ...

    async def gpus_from_prometheus(self, node: Node) -> GpuSnapshot: ...


@dataclass(frozen=True, slots=True)
class StreamContext:
    """Where a stream is opened: the node, its transport, whether that keeps streams, and the source."""

    node: Node
    transport: Transport
    streaming: bool  # a remote transport that can open long-lived streams
    source: StreamHost


@dataclass(frozen=True, slots=True)
class Stream:
    """How a section is streamed: `open` (a SectionStream, or None: use `fallback` on every poll)."""

    open: Callable[[StreamContext], SectionStream | None]
    fallback: Callable[[Transport, Node], Awaitable[Any]]
