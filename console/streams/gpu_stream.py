"""The GPU stream: one long-lived `nvidia-smi --query-gpu=... -lms N` per node, read row by row.

nvidia-smi samples NVML itself every N ms and prints one CSV row per GPU: no process per refresh on the node
(the real tool at -lms 500 costs under 0.1 % of a core, against 24 ms of CPU per one-shot call). Rows of one
sample arrive together; a sample is complete when a row's GPU index does not follow the previous one (the
next sample began) or when no row follows within `GAP_S`.

The stream is restarted when it ends (exit, signal, lost connection), after a jittered backoff that a
successful run resets. Data is stale when no row came for `STALE_INTERVALS` intervals: `snapshot()` then
says so (status "error", the last readings kept for display) until rows come again.

Node output is untrusted: a row that is not the query's answer (a bad index, a wrong field count), more rows
than MAX_GPUS in one sample, or more samples than `-lms N` can have printed since the stream opened (rows that
repeat an index, which would otherwise pass for extra samples of a smaller node) make the node "unreadable
nvidia-smi output: ..." until good samples come again. Nothing a node prints ends the stream's task.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import time
from dataclasses import replace
from datetime import UTC, datetime

from console.collectors.gpu import (
    MAX_GPUS,
    QUERY_COMMAND,
    QUERY_FIELDS,
    GpuParseError,
    GpuSnapshot,
    GpuStatus,
    _nvidia_smi_failure,
    parse_index,
    parse_query_gpu,
)
from console.tasks import cancel_and_wait
from console.text import clean_line
from console.transport.base import LineStream, StreamingTransport, TransportError
from console.transport.pool import backoff

PID_MARK = "@@pid "
STALE_INTERVALS = 3
GAP_S = 0.025  # rows of one sample come in one write; a pause this long ends the sample
NO_TOOLING_RETRY_S = 300.0  # a node without nvidia-smi is asked again this rarely
MIN_INTERVAL_MS = 100
MAX_OUTPUT_LINES = 20  # lines that are not rows, kept to explain an early exit
UNREADABLE = "unreadable nvidia-smi output: "


def gpu_stream_command(interval_ms: int) -> str:
    """`sh` reports its pid (nvidia-smi's after exec), then becomes `nvidia-smi ... -lms N`."""
    script = f"echo {PID_MARK.strip()} $$; exec {QUERY_COMMAND} -lms {int(interval_ms)}"
    return f"exec sh -c {shlex.quote(script)}"


def _row_index(line: str) -> int | None:
    """The GPU index of a row of the query's answer; None for a line that is not such a row."""
    if line.count(",") != len(QUERY_FIELDS) - 1:
        return None
    return parse_index(line.split(",", 1)[0])


def _looks_like_row(line: str) -> bool:
    """Comma-separated data (nvidia-smi's messages have no commas): a row, if perhaps a garbled one."""
    return "," in line


class GpuStream:
    """The latest GPU sample of one node, kept current by one nvidia-smi process over SSH."""

    def __init__(
        self,
        transport: StreamingTransport,
        *,
        interval: float = 1.0,
        open_timeout: float = 10.0,
        restart_first: float = 1.0,
        restart_cap: float = 60.0,
    ) -> None:
        self.transport = transport
        self.interval_ms = max(MIN_INTERVAL_MS, int(interval * 1000))
        self.interval = self.interval_ms / 1000
        self.stale_after = STALE_INTERVALS * self.interval
        self.command = gpu_stream_command(self.interval_ms)
        self.open_timeout = open_timeout
        self.restart_first = restart_first
        self.restart_cap = restart_cap
        self.remote_pid: int | None = None  # nvidia-smi's pid on the node, for the current run
        self.starts = 0  # processes started
        self.samples = 0  # complete samples read
        self._latest: GpuSnapshot | None = None
        self._last_row_at = -1.0  # monotonic
        self._rows: list[str] = []  # the latest sample's rows
        self._stray: list[str] = []  # lines of the current run that are not rows (an early exit's words)
        self._started_at: float | None = None
        self._answered = asyncio.Event()  # the first sample, or the first failure, is in
        self._kick = asyncio.Event()
        self._kickable = False
        self._task: asyncio.Task[None] | None = None

    @property
    def node(self) -> str:
        return self.transport.node_name

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def answered(self) -> bool:
        """The first sample (or failure) is in and the stream's task runs: snapshot() is current."""
        return self._answered.is_set() and self.running

    def start(self) -> None:
        """Start (or, after a crash of the loop itself, restart) the stream's task; idempotent."""
        if not self.running:
            self._started_at = time.monotonic()
            self._task = asyncio.create_task(self._run(), name=f"gpu-stream {self.node}")

    def kick(self) -> None:
        """Retry now if the stream waits out a backoff after a connection failure (the node is back)."""
        if self._kickable:
            self._kick.set()

    async def first(self, timeout: float) -> GpuSnapshot:
        """The current snapshot, waiting up to `timeout` for the first answer after start."""
        self.start()
        if not self._answered.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._answered.wait(), timeout)
        snapshot = self.snapshot()
        if snapshot is None:
            if self._stray:  # it runs and talks, but prints no rows
                return self._error(UNREADABLE + clean_line(self._stray[0], limit=300))
            return self._error(f"no GPU data from the nvidia-smi stream within {timeout:g}s")
        return snapshot

    def snapshot(self) -> GpuSnapshot | None:
        """The latest sample, marked stale when rows stopped coming; None before any answer."""
        latest = self._latest
        now = time.monotonic()
        if latest is None:
            if self._started_at is not None and now - self._started_at > self.stale_after + self.open_timeout:
                if self._stray:
                    return self._error(UNREADABLE + clean_line(self._stray[0], limit=300))
                return self._error("no GPU data from the nvidia-smi stream yet")
            return None
        if latest.status == "ok" and now - self._last_row_at > self.stale_after:
            age = now - self._last_row_at
            return replace(
                latest,
                status="error",
                error=f"GPU data stale: no row from nvidia-smi for {age:.1f}s (every {self.interval:g}s)",
            )
        return latest

    async def close(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    def _error(self, message: str, status: GpuStatus = "error") -> GpuSnapshot:
        return GpuSnapshot(self.node, datetime.now(UTC), "nvidia-smi", status, error=message)

    async def _run(self) -> None:
        failures = 0
        while True:
            opened = time.monotonic()
            try:
                lines = await self.transport.open_stream(self.command, timeout=self.open_timeout)
            except TransportError as exc:  # ConnectError, CommandTimeout: the node or its sshd
                failures += 1
                if self._latest is None or self._latest.status != "ok":
                    self._set(self._error(f"cannot start the nvidia-smi stream: {clean_line(exc)}"))
                await self._pause(
                    backoff(failures, first=self.restart_first, cap=self.restart_cap), kickable=True
                )
                continue
            self.starts += 1
            try:
                sampled, output = await self._read(lines, opened)
            finally:
                await lines.close()
            if sampled:
                failures = 0
            failures += 1
            delay = backoff(failures, first=self.restart_first, cap=self.restart_cap)
            if not sampled:
                status, message = _ended(lines, output)
                self._set(self._error(message, status))
                if status == "no_tooling":
                    delay = NO_TOOLING_RETRY_S
            await self._pause(delay, kickable=False)

    async def _pause(self, delay: float, *, kickable: bool) -> None:
        self._kick.clear()
        self._kickable = kickable
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), delay)
        finally:
            self._kickable = False

    async def _read(self, lines: LineStream, opened: float) -> tuple[bool, list[str]]:
        """Read until the process ends; (whether any sample came, the lines that were not rows).

        Once a sample's row count is known, a sample is complete at that count (no timer); until then, and
        whenever rows stop short of it, it is complete when the next sample starts or after GAP_S of quiet.
        `opened`: when the stream was asked for (monotonic), to bound how many samples it can have sent.
        """
        sampled = False
        output: list[str] = []
        self._stray = output
        pending: list[str] = []
        last_index = -1
        expected: int | None = None
        started = 0  # samples begun in this run
        reading: asyncio.Future[str | None] | None = None
        try:
            while True:
                if pending:
                    reading = reading or asyncio.ensure_future(lines.readline())
                    done, _ = await asyncio.wait({reading}, timeout=GAP_S)
                    if not done:
                        sampled |= self._sample(pending)
                        expected, pending = len(pending), []
                        continue
                if reading is not None:
                    line, reading = await reading, None
                else:
                    line = await lines.readline()
                if line is None:
                    break
                index = _row_index(line)
                if index is None:
                    if _looks_like_row(line):
                        self._unreadable(f"not a row of the query: {clean_line(line, limit=200)}")
                        pending, expected, last_index = [], None, -1
                    elif line.startswith(PID_MARK):
                        with contextlib.suppress(ValueError):
                            self.remote_pid = int(line[len(PID_MARK) :])
                    elif line.strip() and len(output) < MAX_OUTPUT_LINES:
                        output.append(line.strip())
                    continue
                more_boards = not pending and bool(expected) and index > last_index
                if (not pending or index <= last_index) and not more_boards:  # a sample begins
                    # nvidia-smi prints a sample at once, then one every interval: more than that is rows
                    # repeating an index (64 rows of "GPU 0" are not 64 samples of one GPU).
                    if started + 1 > (time.monotonic() - opened) / self.interval + 1.05:
                        self._unreadable(
                            f"more samples than -lms {self.interval_ms} allows: an index repeats"
                        )
                        pending, expected, last_index = [], None, -1
                        continue
                    started += 1
                    if pending:  # the next sample began: this one is complete
                        sampled |= self._sample(pending)
                        expected, pending = len(pending), []
                elif more_boards:  # the last sample was complete at its count, but more boards follow
                    pending, expected = list(self._rows), None
                pending.append(line)
                last_index = index
                if len(pending) > MAX_GPUS:
                    self._unreadable(f"more than {MAX_GPUS} GPU rows in one sample")
                    pending, expected, last_index = [], None, -1
                elif expected is not None and len(pending) == expected:
                    sampled |= self._sample(pending)
                    pending = []
            if pending:
                sampled |= self._sample(pending)
        finally:
            if reading is not None and not reading.done():
                reading.cancel()
        return sampled, output

    def _sample(self, rows: list[str]) -> bool:
        self._rows = rows
        try:
            readings = parse_query_gpu("\n".join(rows))
        except GpuParseError as exc:
            self._unreadable(str(exc))
            return False
        self._last_row_at = time.monotonic()
        self.samples += 1
        self._set(GpuSnapshot(self.node, datetime.now(UTC), "nvidia-smi", "ok", gpus=readings))
        return True

    def _unreadable(self, why: str) -> None:
        """The node printed something that is not the query's answer: say so, keep reading."""
        self._rows = []
        self._set(self._error(UNREADABLE + clean_line(why, limit=300)))

    def _set(self, snapshot: GpuSnapshot) -> None:
        self._latest = snapshot
        self._answered.set()


def _ended(lines: LineStream, output: list[str]) -> tuple[GpuStatus, str]:
    """Why a run ended before its first sample, in the one-shot collector's words where they apply."""
    if lines.exit_status is None:
        if lines.exit_signal:
            return "error", f"nvidia-smi stream ended by signal {clean_line(lines.exit_signal, limit=40)}"
        return "error", f"nvidia-smi stream ended: {clean_line(lines.error or 'channel closed', limit=300)}"
    return _nvidia_smi_failure(lines.exit_status, " ".join(output))
