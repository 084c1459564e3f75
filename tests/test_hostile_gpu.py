"""A hostile GPU node: escape sequences, markup, NaN and garbled rows from its nvidia-smi.

The rows are the real H100 capture (tests/fixtures/gpu) with hand-edited fields, served by the lab's
nvidia-smi stand-in on a real sshd node in `whole` mode (every row of the file is one sample, as on a
multi-GPU node), so they reach the collectors the way a node's output does: over SSH, through a shell.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.collectors.gpu import (
    MAX_GPUS,
    GpuParseError,
    GpuSnapshot,
    collect_gpus,
    parse_query_gpu,
    parse_query_gpu_series,
)
from console.collectors.gpu_processes import MAX_PROCESSES, parse_apps_output, parse_compute_apps
from console.streams.gpu_stream import GpuStream
from console.transport import SSHTransport
from tests.hostile import HOSTILE, MARKUP, OSC_CLIPBOARD, OSC_TITLE, WIPE, assert_clean
from tests.lab.common import CAPTURE_DIR
from tests.lab.models import lab_node_model
from tests.lab.sshd import LabNode, SshLab

IDLE_ROW = (CAPTURE_DIR / "idle-query-gpu-noheader-nounits.csv").read_text().strip().split(", ")
FIELD = {
    name: i
    for i, name in enumerate(
        ("index", "uuid", "name", "driver", "pci", "temp", "util", "util_mem", "total", "used", "free",
         "power", "limit", "sm", "mem_clock", "fan", "pstate", "ecc", "compute_mode")
    )
}  # fmt: skip


def row(index: str = "0", **fields: str) -> str:
    cells = list(IDLE_ROW)
    cells[0] = index
    cells[1] = f"GPU-{index}-862d267a"
    for name, value in fields.items():
        cells[FIELD[name]] = value
    return ", ".join(cells)


# --- the parsers, on edited real rows -----------------------------------------------------------------------


def test_every_string_field_is_cleaned() -> None:
    quoted = '"' + HOSTILE + '\nforged line"'  # a quoted CSV field may hold a newline
    text = row("0", name=quoted, driver=HOSTILE, pci=WIPE, pstate=OSC_TITLE) + "\n"
    text += row("1", uuid=OSC_CLIPBOARD) + "\n"
    readings = parse_query_gpu(text)
    assert_clean(readings)
    assert readings[
        0
    ].name == "\\x1b]0;pwned\\x07\\x1b]52;c;Y3VybCBldmlsIHwgc2g=\\x07\\x1b[2J\\x07" + MARKUP + (
        "\\nforged line"
    )
    assert readings[1].uuid == "\\x1b]52;c;Y3VybCBldmlsIHwgc2g=\\x07"


@pytest.mark.parametrize("bad", ["nan", "NaN", "inf", "-inf", "1e999"])
def test_non_finite_numbers_are_unknown(bad: str) -> None:
    fields = ("temp", "util", "util_mem", "total", "used", "power", "limit", "sm", "mem_clock", "fan", "ecc")
    (gpu,) = parse_query_gpu(row("0", **dict.fromkeys(fields, bad)))
    numbers = [getattr(gpu, f.name) for f in dataclasses.fields(gpu) if f.name not in ("index",)]
    assert [n for n in numbers if isinstance(n, int | float)] == []


@pytest.mark.parametrize("index", ["²", "٣", "-1", "0x1", "1e3", "", "99999"])
def test_an_index_that_is_not_a_small_ascii_number_is_unreadable(index: str) -> None:
    with pytest.raises(GpuParseError, match="row without a GPU index"):
        parse_query_gpu(row(index))


def test_the_same_index_twice_is_unreadable_not_one_gpu() -> None:
    with pytest.raises(GpuParseError, match="GPU index 0 appears more than once"):
        parse_query_gpu("\n".join([row("0")] * 64))


def test_more_rows_than_a_node_has_gpus_are_unreadable() -> None:
    rows = "\n".join(row(str(i)) for i in range(MAX_GPUS))
    assert len(parse_query_gpu(rows)) == MAX_GPUS
    with pytest.raises(GpuParseError, match=f"more than {MAX_GPUS} GPU rows"):
        parse_query_gpu(rows + "\n" + row(str(MAX_GPUS)))


def test_a_recorded_series_is_one_reading_per_sample() -> None:
    series = (CAPTURE_DIR / "load-query-gpu-series.csv").read_text()
    assert [gpu.index for gpu in parse_query_gpu_series(series)] == [0] * len(series.splitlines())


def test_a_field_past_the_csv_limit_is_unreadable_not_a_crash() -> None:
    with pytest.raises(GpuParseError, match="not CSV"):
        parse_query_gpu(row("0", name='"' + "x" * 200_000 + '"'))


def test_compute_apps_are_cleaned_bounded_and_ascii_pids_only() -> None:
    hostile = f"4242, {HOSTILE}, 1000 MiB, GPU-{WIPE}\n²,python,1,GPU-x\n"
    (process,) = parse_compute_apps(hostile)
    assert_clean(process)
    assert process.pid == 4242
    flood = "".join(f"{pid}, python, nan, GPU-x\n" for pid in range(1, MAX_PROCESSES + 100))
    processes = parse_compute_apps(flood)
    assert len(processes) == MAX_PROCESSES
    assert processes[0].used_memory_mib is None  # nan MiB is unknown
    # A cgroup header that is not an ASCII pid is ignored, not a crash.
    assert parse_apps_output("4242, python, 1, GPU-x\n@@cgroup ²\n0::/\n")[0].pid == 4242


# --- over a real sshd node --------------------------------------------------------------------------------


@pytest.fixture
def hostile_node(ssh_lab: SshLab) -> Iterator[LabNode]:
    node = ssh_lab.start_node("gpu-hostile", gpu_capture="idle")
    yield node
    node.stop()


def serve(node: LabNode, rows: list[str]) -> None:
    """Make the node's nvidia-smi print these rows as its answer (every interval, in loop mode)."""
    data = node.bin_dir.parent / "nvidia-smi-replay"
    (data / "idle-query-gpu-noheader-nounits.csv").write_text("\n".join(rows) + "\n")
    Path(data / "whole").write_text("")


async def test_a_hostile_node_reaches_the_snapshot_only_as_clean_text(
    ssh_lab: SshLab, hostile_node: LabNode
) -> None:
    serve(
        hostile_node,
        [
            # (no newline inside a field: the stream reads lines, so that is a garbled row, tested below)
            row("0", name=f'"{HOSTILE}"', driver=HOSTILE, temp="nan", ecc="inf", power="-inf"),
            row("1", pstate=WIPE, pci=OSC_TITLE),
        ],
    )
    transport = SSHTransport(lab_node_model(ssh_lab, hostile_node))
    stream = GpuStream(transport, interval=0.2)
    try:
        polled = await collect_gpus(transport, timeout=5)
        streamed = await stream.first(timeout=5)
    finally:
        await stream.close()
        await transport.close()
    for snapshot in (polled, streamed):
        assert snapshot.status == "ok", snapshot.error
        assert [gpu.index for gpu in snapshot.gpus] == [0, 1]
        assert_clean(snapshot)
        assert MARKUP in snapshot.gpus[0].name  # kept as text: it is rendered with Text, never as markup
        gpu = snapshot.gpus[0]
        assert (gpu.temperature_c, gpu.ecc_uncorrected, gpu.power_draw_w) == (None, None, None)


async def wait_error(stream: GpuStream, timeout: float = 5.0) -> GpuSnapshot:
    deadline = time.monotonic() + timeout
    while True:
        snapshot = stream.snapshot()
        if snapshot is not None and snapshot.status == "error":
            return snapshot
        assert time.monotonic() < deadline, f"no error within {timeout:g}s: {snapshot}"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize(
    ("rows", "why", "polled"),
    [
        ([row("²")], "not a row of the query: ²", "error"),
        ([row("0", ecc="nan"), row("١")], "not a row of the query: ١", "error"),
        ([row("0"), "0, GPU-garbled, 3"], "not a row of the query: 0, GPU-garbled, 3", "error"),
        ([row("0")] * 64, "more samples than -lms 200 allows: an index repeats", "error"),
        # One-shot output is read as CSV, where a quoted field may hold a newline; the stream reads lines.
        ([row("0", name='"two\nlines"')], "not a row of the query: ", "ok"),
    ],
    ids=["superscript-index", "arabic-index", "short-row", "64-rows-of-gpu-0", "newline-in-a-field"],
)
async def test_garbled_output_is_reported_and_the_stream_lives_on(
    ssh_lab: SshLab, hostile_node: LabNode, rows: list[str], why: str, polled: str
) -> None:
    serve(hostile_node, rows)
    transport = SSHTransport(lab_node_model(ssh_lab, hostile_node))
    stream = GpuStream(transport, interval=0.2)
    try:
        await stream.first(timeout=5)
        snapshot = await wait_error(stream)
        await asyncio.sleep(0.5)  # more samples of the same: the task must survive them
        assert stream.running
        one_shot = await collect_gpus(transport, timeout=5)
    finally:
        await stream.close()
        await transport.close()
    assert snapshot.error is not None
    assert snapshot.error.startswith("unreadable nvidia-smi output: ")
    assert why in snapshot.error
    assert snapshot.gpus == ()  # never "1 GPU found"
    assert stream.starts == 1
    assert one_shot.status == polled
    assert_clean(one_shot)
    if polled == "error":
        assert one_shot.error is not None
        assert one_shot.error.startswith("unreadable nvidia-smi output: ")


async def test_a_stream_that_talks_but_prints_no_rows_is_unreadable_not_silent(
    ssh_lab: SshLab, hostile_node: LabNode
) -> None:
    serve(hostile_node, [f"Something went wrong{OSC_TITLE}"])
    transport = SSHTransport(lab_node_model(ssh_lab, hostile_node))
    stream = GpuStream(transport, interval=0.2)
    try:
        snapshot = await stream.first(timeout=1.5)
        assert stream.running
    finally:
        await stream.close()
        await transport.close()
    assert snapshot.error == "unreadable nvidia-smi output: Something went wrong\\x1b]0;pwned\\x07"
