"""Per-process GPU utilisation: `nvidia-smi pmon` parsed, merged with the process list, streamed over sshd.

The pmon text is shaped after the real tool (tests/fixtures/gpu/README.md says how: no GPU was at hand to
capture it), in the layout driver 5xx prints; the older 8-column layout is the one the tool printed before.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from console.inventory.model import Inventory
from console.model.gpu import GpuProcess, GpuReading, GpuSnapshot
from console.streams.pmon import (
    MAX_PROCESSES,
    PmonRow,
    PmonSample,
    PmonStream,
    header_columns,
    merge_processes,
    parse_row,
    pmon_command,
)
from console.streams.source import StreamingSource
from console.transport import SSHTransport
from tests.lab.common import CAPTURE_DIR
from tests.lab.models import lab_node_model
from tests.lab.sshd import LabNode, SshLab, descendant_levels

LOAD = (CAPTURE_DIR / "load-pmon-shaped.txt").read_text()
IDLE = (CAPTURE_DIR / "idle-pmon-shaped.txt").read_text()
OLDER = """\
# gpu        pid  type    sm   mem   enc   dec   command
# Idx          #   C/G     %     %     %     %   name
    0      25985     C     7     1     -     -   python3.7
"""
UUID = "GPU-862d267a-20ce-32e4-f9da-22573272ba66"


def parse(text: str) -> list[tuple[int, PmonRow | None]]:
    columns: tuple[str, ...] = ()
    rows = []
    for line in text.splitlines():
        named = header_columns(line)
        if named is not None:
            columns = named
        elif (parsed := parse_row(line, columns)) is not None:
            rows.append(parsed)
    return rows


def test_rows_are_read_by_the_header_names() -> None:
    rows = parse(LOAD)
    assert len(rows) == 5
    gpu, row = rows[0]
    assert gpu == 0
    assert row == PmonRow(0, 618, "C", 21610.0, 100.0, 33.0, "python3")
    assert [r.sm_pct for _, r in rows if r is not None] == [100, 100, 99, 100, 100]
    # the older layout (no fb, ccpm, jpg, ofa): the same names find the same fields
    assert parse(OLDER) == [(0, PmonRow(0, 25985, "C", None, 7.0, 1.0, "python3.7"))]
    # an idle GPU prints a row of dashes: the GPU is covered, no process
    assert parse(IDLE) == [(0, None)]


def test_hostile_rows_are_cleaned_or_dropped() -> None:
    head = "# gpu pid type fb ccpm sm mem enc dec jpg ofa command"
    columns = header_columns(head)
    assert columns is not None
    row = parse_row("0 7 C 100 0 nan 250 - - - - \x1b[31mevil\x07 name", columns)
    assert row is not None
    assert row[1] is not None
    assert row[1].sm_pct is None  # NaN is unknown
    assert row[1].mem_pct is None  # a share above 100 % is not a share
    assert "\x1b" not in row[1].command
    assert "\x07" not in row[1].command
    assert row[1].command.endswith("name")  # a name with spaces stays one name
    huge = parse_row("0 7 C 1 0 1 1 - - - - " + "x" * 100_000, columns)
    assert huge is not None
    assert huge[1] is not None
    assert len(huge[1].command) <= 64
    assert parse_row("0 -7 C 1 0 1 1 - - - - p", columns) is None  # not a pid
    assert parse_row("٣ 7 C 1 0 1 1 - - - - p", columns) is None  # digits, but not ASCII ones
    assert parse_row("999 7 C 1 0 1 1 - - - - p", columns) is None  # no such GPU index
    assert parse_row("0 7 C -5 0 1 1 - - - - p", columns) == (0, PmonRow(0, 7, "C", None, 1.0, 1.0, "p"))
    assert parse_row("Failed to initialize NVML: Unknown Error", columns) is None
    assert header_columns("# Idx # C/G MB MB % % % % % % name") is None  # the units line


def test_the_command_names_every_gpu() -> None:
    # pmon without -i watches at most four GPUs: an 8-GPU node names all eight
    assert pmon_command(2, range(8)) == "nvidia-smi pmon -s um -d 2 -i 0,1,2,3,4,5,6,7"
    assert pmon_command(0.5, [1, 0]) == "nvidia-smi pmon -s um -d 1 -i 0,1"  # whole seconds, 1..10
    assert pmon_command(30, [0]) == "nvidia-smi pmon -s um -d 10 -i 0"


def snapshot(*indices: int) -> GpuSnapshot:
    readings = tuple(GpuReading(index, f"GPU-{index}", "NVIDIA H100 80GB HBM3") for index in indices)
    return GpuSnapshot("n", datetime(2026, 11, 22, tzinfo=UTC), "nvidia-smi", "ok", gpus=readings)


def test_merge_adds_utilisation_and_keeps_the_container() -> None:
    apps = (
        GpuProcess(618, "python3", 21000.0, "GPU-0", container_id="c" * 64),
        GpuProcess(700, "ended", 10.0, "GPU-0"),  # gone from pmon's view of GPU 0: it ended
        GpuProcess(800, "on-gpu-2", 10.0, "GPU-2"),  # pmon did not cover GPU 2: kept as listed
    )
    sample = PmonSample(
        time.monotonic(),
        (
            PmonRow(0, 618, "C", 21610.0, 100.0, 33.0, "python3"),
            PmonRow(1, 900, "G", 15.0, None, None, "Xorg"),  # not in the list: added, container unknown
            PmonRow(1, 901, "C", 500.0, 5.0, 1.0, "new"),  # a compute process the list lacks
        ),
        frozenset({0, 1}),
    )
    merged, unlisted = merge_processes(apps, snapshot(0, 1, 2), sample)
    by_pid = {process.pid: process for process in merged}
    assert set(by_pid) == {618, 800, 900, 901}
    assert by_pid[618].sm_pct == 100
    assert by_pid[618].mem_bw_pct == 33
    assert by_pid[618].used_memory_mib == 21610  # pmon's figure is the fresher one
    assert by_pid[618].container_id == "c" * 64
    assert by_pid[900].gpu_uuid == "GPU-1"
    assert by_pid[900].kind == "G"
    assert by_pid[900].container_id is None
    assert by_pid[800].sm_pct is None
    assert unlisted == {901}  # Xorg never shows in --query-compute-apps: it makes no list due
    assert merge_processes(apps, snapshot(0), None) == (apps, frozenset())  # no recent sample: as listed


# --- against real sshd --------------------------------------------------------------------------------


async def eventually(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g}s: {what}")
        await asyncio.sleep(0.02)


@pytest.fixture(scope="module")
def pmon_node(ssh_lab: SshLab) -> Iterator[LabNode]:
    """A node replaying the H100 under load, whose replay waits without a process (nofork)."""
    node = ssh_lab.start_node("gpu-pmon", gpu_capture="load")
    (node.bin_dir.parent / "nvidia-smi-replay" / "nofork").write_text("1\n")
    yield node
    node.stop()


async def test_the_stream_reads_pmon_over_ssh(ssh_lab: SshLab, pmon_node: LabNode) -> None:
    transport = SSHTransport(lab_node_model(ssh_lab, pmon_node))
    stream = PmonStream(transport, interval=1)
    try:
        stream.follow([0])
        await eventually(lambda: stream.samples >= 2, "two pmon samples")
        sample = stream.sample()
    finally:
        await stream.close()
        await transport.close()
    assert sample is not None
    assert sample.gpus == {0}
    assert [(row.pid, row.command, row.fb_mib, row.kind) for row in sample.rows] == [
        (618, "python3", 21610.0, "C")
    ]
    assert sample.rows[0].sm_pct in (99.0, 100.0)
    assert stream.starts == 1
    assert stream.error is None


async def test_processes_carry_utilisation_and_a_warm_poll_starts_no_process(
    ssh_lab: SshLab, pmon_node: LabNode
) -> None:
    node = lab_node_model(ssh_lab, pmon_node, refresh=0.2)
    source = StreamingSource(Inventory("lab", "lab.yaml", (node,)), gpu_interval=0.2)
    try:

        async def process_sm() -> float | None:
            polled = await source.poll(node)
            processes = polled.gpu.processes if polled.gpu is not None else ()
            return processes[0].sm_pct if processes else None

        deadline = time.monotonic() + 15
        while await process_sm() is None:
            assert time.monotonic() < deadline, "no per-process utilisation came"
            await asyncio.sleep(0.1)
        gpu = source.streams[node.name]["gpu"]
        await eventually(lambda: gpu.process_reads >= 1, "the process list")
        before = {pid for level in descendant_levels(pmon_node.process.pid) for pid in level}
        for _ in range(8):  # warm polls over a few pmon samples
            assert await process_sm() in (99.0, 100.0)
            await asyncio.sleep(0.3)
        after = {pid for level in descendant_levels(pmon_node.process.pid) for pid in level}
    finally:
        await source.close()
    assert after - before == set(), "a warm poll started a process on the node"
    assert gpu.pmon.starts == 1
    assert gpu.process_reads == 1  # pmon saw no process the list lacked: no extra read


async def test_hostile_pmon_output_does_not_end_the_stream(ssh_lab: SshLab) -> None:
    node = ssh_lab.start_node("gpu-pmon-hostile", gpu_capture="load")
    data = node.bin_dir.parent / "nvidia-smi-replay"
    head = "\n".join(LOAD.splitlines()[:2])
    rows = [
        f"    0 {pid:>10}     C    10      0    nan    33      -      -      -      -    p\x1b]0;x\x07"
        for pid in range(1, MAX_PROCESSES + 10)
    ]
    (data / "load-pmon-shaped.txt").write_text(f"{head}\n" + "\n".join(rows) + "\n")
    (data / "whole").write_text("1\n")
    (data / "nofork").write_text("1\n")
    transport = SSHTransport(lab_node_model(ssh_lab, node))
    stream = PmonStream(transport, interval=1, restart_first=0.1)
    try:
        stream.follow([0])
        await asyncio.sleep(2.5)  # two rounds of too many rows
        assert stream.running
        assert stream.sample() is None  # more rows than processes can be: dropped
        good = rows[:3]
        (data / "load-pmon-shaped.txt").write_text(f"{head}\n" + "\n".join(good) + "\n")
        stream.follow([0, 1])  # a new set of GPUs restarts the stream...
        stream.follow([0])  # ...and so does the old one: the replay reads its rows again
        await eventually(lambda: stream.sample() is not None, "a sample after the flood")
        sample = stream.sample()
        # a line past the transport's bound ends the run: the stream starts again, and again
        huge = (
            "    0          7     C    10      0     1     1      -      -      -      -    " + "x" * 100_000
        )
        (data / "load-pmon-shaped.txt").write_text(f"{head}\n{huge}\n")
        stream.follow([0, 1])
        stream.follow([0])
        starts = stream.starts
        await eventually(lambda: stream.starts >= starts + 2, "a restart after the huge line")
        assert stream.running
    finally:
        await stream.close()
        await transport.close()
        node.stop()
    assert sample is not None
    assert len(sample.rows) == 3
    assert all(row.sm_pct is None for row in sample.rows)
    assert all("\x1b" not in row.command and "\x07" not in row.command for row in sample.rows)


def test_a_gpu_index_too_long_for_int_is_not_a_row() -> None:
    columns = header_columns(LOAD.splitlines()[0])
    assert columns is not None
    assert parse_row("0" * 5000 + "  7  C  10  0  1  1  -  -  -  -  p", columns) is None


async def test_a_gpu_index_too_long_for_int_does_not_end_the_stream(ssh_lab: SshLab) -> None:
    """int() refuses more than 4,300 digits: such a field is a line that is not a row, the stream goes on."""
    node = ssh_lab.start_node("gpu-pmon-digits", gpu_capture="load")
    data = node.bin_dir.parent / "nvidia-smi-replay"
    head = "\n".join(LOAD.splitlines()[:2])
    row = "    0          7     C    10      0     1     1      -      -      -      -    p"
    (data / "load-pmon-shaped.txt").write_text(f"{head}\n{'0' * 5000}{row[5:]}\n{row}\n")
    (data / "whole").write_text("1\n")
    (data / "nofork").write_text("1\n")
    transport = SSHTransport(lab_node_model(ssh_lab, node))
    stream = PmonStream(transport, interval=1, restart_first=0.1)
    try:
        stream.follow([0])
        await eventually(lambda: stream.sample() is not None, "a sample past the long index")
        assert stream.running
        sample = stream.sample()
        assert sample is not None
        assert [row.pid for row in sample.rows] == [7]
    finally:
        await stream.close()
        await transport.close()
        node.stop()
