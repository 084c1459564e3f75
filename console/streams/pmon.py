"""Per-process GPU utilisation: one long-lived `nvidia-smi pmon -s um -d N -i LIST` per node, read row by row.

What the real tool prints (driver 5xx; the older ones lack `ccpm`, `jpg` and `ofa`, so columns are read by
the names in the header, never by position):

    # gpu         pid   type     fb   ccpm     sm    mem    enc    dec    jpg    ofa    command
    # Idx           #    C/G     MB     MB      %      %      %      %      %      %    name
        0        618     C    21610      0    100     33      -      -      -      -    python3
        1          -     -        -      -      -      -      -      -      -      -    -

Every `-d` seconds one row per process per GPU (a GPU without one prints a row of `-`); `-` is "not known"
(a sampling gap, an engine the process does not use). `sm` is the share of the interval the process's kernels
ran, `mem` its share of the memory controller's time. Without `-i` pmon watches at most four GPUs, so the
stream names every index the GPU stream reported (and restarts when that set changes).

The stream is restarted when it ends, after a jittered backoff; a sample older than `STALE_INTERVALS`
intervals is not used. Node output is untrusted: a line that is not a header or a row is skipped (the first
few are kept to explain an early exit), a command name goes through console.text, numbers through `finite`
and a percentage outside 0..100 is unknown; more than MAX_PROCESSES rows in one sample drop that sample.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from console.collectors.gpu_processes import MAX_PROCESSES
from console.model.gpu import GpuProcess, GpuSnapshot
from console.text import clean_line, finite
from console.transport.base import LineStream, StreamingTransport, TransportError
from console.transport.pool import backoff

STALE_INTERVALS = 3
GAP_S = 0.05  # the rows of one sample come in one write; a pause this long ends the sample
MAX_OUTPUT_LINES = 20
MAX_GPU_INDEX = 63
UNSUPPORTED_RETRY_S = 300.0  # pmon ran and said why it gives nothing (MIG mode, an old board): ask rarely
NAME_LIMIT = 64  # pmon cuts names itself (about 15-31 characters); anything past this is not a name


@dataclass(frozen=True, slots=True)
class PmonRow:
    gpu: int
    pid: int
    kind: str | None  # "C", "G", "C+G", "M" (MPS)
    fb_mib: float | None
    sm_pct: float | None
    mem_pct: float | None
    command: str


@dataclass(frozen=True, slots=True)
class PmonSample:
    """One interval's rows, and the GPUs it covered (a GPU with no process shows a row of `-`)."""

    at: float  # monotonic
    rows: tuple[PmonRow, ...]
    gpus: frozenset[int]


def pmon_command(interval_s: float, gpus: Sequence[int]) -> str:
    """`nvidia-smi pmon -s um -d N -i 0,1,...`: N whole seconds, 1..10 (what the tool accepts)."""
    delay = min(10, max(1, math.ceil(interval_s)))
    ids = ",".join(str(int(index)) for index in sorted(set(gpus)))
    return f"nvidia-smi pmon -s um -d {delay} -i {ids}"


def header_columns(line: str) -> tuple[str, ...] | None:
    """The column names of a `# gpu pid type ...` header line; None for any other line."""
    if not line.startswith("#"):
        return None
    names = tuple(line[1:].lower().split())
    return names if "gpu" in names and "pid" in names and names[-1] == "command" else None


def _percent(raw: str) -> float | None:
    value = finite(raw) if raw != "-" else None
    return value if value is not None and 0.0 <= value <= 100.0 else None


def _amount(raw: str) -> float | None:
    value = finite(raw) if raw != "-" else None
    return value if value is not None and value >= 0.0 else None


def parse_row(line: str, columns: Sequence[str]) -> tuple[int, PmonRow | None] | None:
    """(GPU index, the row's process or None for an idle GPU's `-` row); None when it is not a row."""
    if line.startswith("#") or not columns:
        return None
    fields = line.split(None, len(columns) - 1)  # the command is last and may hold spaces
    if len(fields) != len(columns):
        return None
    value = dict(zip(columns, fields, strict=True))
    gpu = value["gpu"]
    if not (gpu.isascii() and gpu.isdigit()) or len(gpu) > 3 or int(gpu) > MAX_GPU_INDEX:
        return None
    pid = value["pid"]
    if pid == "-":
        return int(gpu), None
    if not (pid.isascii() and pid.isdigit()) or len(pid) > 10:
        return None
    kind = value.get("type", "-")
    return int(gpu), PmonRow(
        gpu=int(gpu),
        pid=int(pid),
        kind=clean_line(kind, limit=4) if kind != "-" else None,
        fb_mib=_amount(value.get("fb", "-")),
        sm_pct=_percent(value.get("sm", "-")),
        mem_pct=_percent(value.get("mem", "-")),
        command=clean_line(value["command"].strip(), limit=NAME_LIMIT),
    )


def merge_processes(
    apps: Sequence[GpuProcess], gpu: GpuSnapshot, sample: PmonSample | None
) -> tuple[tuple[GpuProcess, ...], frozenset[int]]:
    """The process list with each process's utilisation; and the compute processes pmon saw that the list
    lacks (a graphics process never shows in `--query-compute-apps`, so only these can make it due).

    `apps` (from `--query-compute-apps`, with containers) is read now and then; the pmon sample is current.
    A process of `apps` on a GPU the sample covers but absent from it has ended; one in the sample only
    (a graphics process, or one started since `apps` was read) is added with pmon's name and memory, its
    container not yet known (the caller reads `apps` again soon).
    """
    if sample is None:
        return tuple(apps), frozenset()
    uuid_of = {reading.index: reading.uuid for reading in gpu.gpus}
    index_of = {reading.uuid: reading.index for reading in gpu.gpus}
    rows = {(row.gpu, row.pid): row for row in sample.rows}
    merged: list[GpuProcess] = []
    seen: set[tuple[int, int]] = set()
    for process in apps:
        index = index_of.get(process.gpu_uuid or "")
        row = rows.get((index, process.pid)) if index is not None else None
        if row is None:
            if index is None or index not in sample.gpus:
                merged.append(process)  # pmon does not watch its GPU: keep what apps said
            continue
        seen.add((row.gpu, row.pid))
        merged.append(
            dataclasses.replace(
                process,
                used_memory_mib=row.fb_mib if row.fb_mib is not None else process.used_memory_mib,
                sm_pct=row.sm_pct,
                mem_bw_pct=row.mem_pct,
                kind=row.kind,
            )
        )
    unlisted: set[int] = set()
    for key, row in rows.items():
        if key in seen:
            continue
        if row.kind is None or "C" in row.kind or row.kind == "M":
            unlisted.add(row.pid)
        merged.append(
            GpuProcess(
                pid=row.pid,
                name=row.command,
                used_memory_mib=row.fb_mib,
                gpu_uuid=uuid_of.get(row.gpu),
                sm_pct=row.sm_pct,
                mem_bw_pct=row.mem_pct,
                kind=row.kind,
            )
        )
    return tuple(merged), frozenset(unlisted)


class PmonStream:
    """The latest pmon sample of one node, kept current by one nvidia-smi process over SSH."""

    def __init__(
        self,
        transport: StreamingTransport,
        *,
        interval: float = 2.0,
        open_timeout: float = 10.0,
        restart_first: float = 1.0,
        restart_cap: float = 60.0,
    ) -> None:
        self.transport = transport
        self.interval = float(min(10, max(1, math.ceil(interval))))
        self.open_timeout = open_timeout
        self.restart_first = restart_first
        self.restart_cap = restart_cap
        self.gpus: tuple[int, ...] = ()
        self.command = ""
        self.starts = 0  # processes started
        self.samples = 0  # complete samples read
        self.error: str | None = None  # why the last run gave no sample (for the screen's note)
        self.output: list[str] = []  # lines of the current run that were neither header nor row
        self._sample: PmonSample | None = None
        self._task: asyncio.Task[None] | None = None
        self._ending: set[asyncio.Task[None]] = set()  # runs cancelled by a change of GPUs, still closing

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def follow(self, gpus: Sequence[int]) -> None:
        """Watch these GPU indices: starts the stream, or restarts it when the set changed."""
        wanted = tuple(sorted(set(gpus)))
        if not wanted:
            return
        if wanted != self.gpus and self._task is not None:
            old, self._task, self._sample = self._task, None, None
            old.cancel()  # its finally closes the channel; held until then
            self._ending.add(old)
            old.add_done_callback(self._ending.discard)
        if wanted != self.gpus:
            self.gpus = wanted
            self.command = pmon_command(self.interval, wanted)  # declared by the GPU section (read-only)
        if not self.running:
            self._task = asyncio.create_task(self._run(), name=f"gpu-pmon {self.transport.node_name}")

    def sample(self) -> PmonSample | None:
        """The latest complete sample, or None when there is none this recent."""
        sample = self._sample
        if sample is None or time.monotonic() - sample.at > STALE_INTERVALS * self.interval:
            return None
        return sample

    async def close(self) -> None:
        tasks = [*self._ending, *([self._task] if self._task is not None else [])]
        self._task = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                lines = await self.transport.open_stream(self.command, timeout=self.open_timeout)
            except TransportError as exc:
                self.error = f"cannot start nvidia-smi pmon: {clean_line(exc, limit=200)}"
            else:
                self.starts += 1
                try:
                    sampled = await self._read(lines)
                finally:
                    await lines.close()
                if sampled:
                    failures = 0
                elif self.output:
                    self.error = "nvidia-smi pmon: " + clean_line(self.output[0], limit=200)
                else:
                    self.error = "nvidia-smi pmon ended without a sample"
            failures += 1
            delay = backoff(failures, first=self.restart_first, cap=self.restart_cap)
            if failures > 2 and self.output:  # it keeps running, talking and ending without a sample
                delay = UNSUPPORTED_RETRY_S
            await asyncio.sleep(delay)

    async def _read(self, lines: LineStream) -> bool:
        """Read until the process ends; whether any sample came."""
        sampled = False
        columns: tuple[str, ...] = ()
        pending: dict[tuple[int, int], PmonRow] = {}
        covered: set[int] = set()
        last_gpu = -1
        flooded = False  # a burst with more rows than processes can be: skipped to its end
        output: list[str] = []
        self.output = output
        reading: asyncio.Future[str | None] | None = None
        try:
            while True:
                reading = reading or asyncio.ensure_future(lines.readline())
                if covered or flooded:
                    done, _ = await asyncio.wait({reading}, timeout=GAP_S)
                    if not done:  # the burst is over: the sample is complete
                        if not flooded:
                            sampled |= self._publish(pending, covered)
                        pending, covered, last_gpu, flooded = {}, set(), -1, False
                        continue
                line, reading = await reading, None
                if line is None:
                    break
                named = header_columns(line)
                if named is not None:
                    columns = named
                    continue
                parsed = parse_row(line, columns)
                if parsed is None:
                    if line.strip() and not line.startswith("#") and len(output) < MAX_OUTPUT_LINES:
                        output.append(line.strip())
                    continue
                if flooded:
                    continue
                gpu, row = parsed
                key = (gpu, row.pid) if row is not None else None
                if covered and (gpu < last_gpu or (key is not None and key in pending)):
                    sampled |= self._publish(pending, covered)  # the next sample began
                    pending, covered = {}, set()
                covered.add(gpu)
                last_gpu = gpu
                if row is not None and key is not None:
                    pending[key] = row
                if len(pending) > MAX_PROCESSES:
                    pending, covered, last_gpu, flooded = {}, set(), -1, True  # not a real sample
                    self.error = f"nvidia-smi pmon: more than {MAX_PROCESSES} processes in one sample"
            if covered and not flooded:
                sampled |= self._publish(pending, covered)
        finally:
            if reading is not None and not reading.done():
                reading.cancel()
        return sampled

    def _publish(self, rows: dict[tuple[int, int], PmonRow], gpus: set[int]) -> bool:
        self._sample = PmonSample(time.monotonic(), tuple(rows.values()), frozenset(gpus))
        self.samples += 1
        self.error = None
        return True
