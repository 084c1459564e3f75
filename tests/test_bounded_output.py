"""Bounded output: a node printing without end costs at most a few MiB, and says "output too large".

Real sshd and real local processes print tens of MB (`head -c`, `cat /dev/zero`); memory is measured with
tracemalloc around each read (Python allocations: the kept output and every chunk on its way).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from console.transport import LocalTransport, OutputTooLarge, SSHTransport
from console.transport.bounded import MAX_OUTPUT_BYTES, LineSplitter
from console.transport.readonly import ReadOnlyTransport, register_read_only
from tests.lab.models import lab_node_model
from tests.lab.sshd import LabNode, SshLab

T = TypeVar("T")
MiB = 1024 * 1024
BOUND = 24 * MiB  # 4 MiB kept, the SSH window (2 MiB) and the chunks in flight, with room to spare


async def peak_of(action: Callable[[], Awaitable[T]]) -> tuple[T | BaseException, int]:
    """What `action` returned or raised, and the most memory Python held for it at once."""
    tracemalloc.start()
    try:
        try:
            outcome: T | BaseException = await action()
        except Exception as exc:
            outcome = exc
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return outcome, peak


async def idle(transport: SSHTransport) -> bool:
    """Every session channel given back (the node's side of a cut command closed)."""
    for _ in range(500):
        if transport.budget.in_use == 0:
            return True
        await asyncio.sleep(0.01)
    return False


async def test_a_command_printing_50_mb_is_cut_at_4_mib(ssh_lab: SshLab, gpu_node: LabNode) -> None:
    transport = SSHTransport(lab_node_model(ssh_lab, gpu_node, ssh={"command_timeout": 60}))
    try:
        await transport.connect()
        outcome, peak = await peak_of(lambda: transport.run("head -c 50000000 /dev/zero"))
        assert isinstance(outcome, OutputTooLarge)
        assert "gpu1: output too large (>4 MiB) from 'head -c 50000000 /dev/zero'" in str(outcome)
        assert peak < BOUND, f"{peak / MiB:.1f} MiB held"
        assert await idle(transport)  # the channel was closed, its slot is free
        assert (await transport.run("echo still here")).stdout == "still here\n"
    finally:
        await transport.close()


async def test_stdout_and_stderr_count_together(ssh_lab: SshLab, gpu_node: LabNode) -> None:
    transport = SSHTransport(lab_node_model(ssh_lab, gpu_node))
    try:
        with pytest.raises(OutputTooLarge, match="output too large"):
            await transport.run("head -c 3000000 /dev/zero >&2; head -c 3000000 /dev/zero")
    finally:
        await transport.close()


async def test_output_up_to_the_cap_is_kept_whole(ssh_lab: SshLab, gpu_node: LabNode) -> None:
    transport = SSHTransport(lab_node_model(ssh_lab, gpu_node))
    try:
        result = await transport.run(f"head -c {MAX_OUTPUT_BYTES - 3} /dev/zero | tr '\\0' x; echo e >&2")
    finally:
        await transport.close()
    assert (len(result.stdout), result.stderr, result.exit_status) == (MAX_OUTPUT_BYTES - 3, "e\n", 0)


async def test_a_stream_line_over_64_kib_ends_the_stream_with_a_reason(
    ssh_lab: SshLab, gpu_node: LabNode
) -> None:
    transport = SSHTransport(lab_node_model(ssh_lab, gpu_node))
    try:
        lines = await transport.open_stream("echo first; cat /dev/zero")  # one endless line after the first
        assert await asyncio.wait_for(lines.readline(), 10) == "first"
        outcome, peak = await peak_of(lambda: asyncio.wait_for(lines.readline(), 10))
        assert outcome is None
        assert lines.error == "output too large (a line over 64 KiB); stopped reading it"
        assert peak < BOUND
        assert await idle(transport)  # closed: cat got its SIGTERM / EOF on the node
        with pytest.raises(OutputTooLarge, match=r"gpu1: output too large \(a line over 64 KiB\)"):
            async for _ in transport.stream("head -c 100000 /dev/zero; echo"):
                pass
        long_line = 60 * 1024
        seen = [line async for line in transport.stream(f"head -c {long_line} /dev/zero | tr '\\0' y; echo")]
        assert [len(line) for line in seen] == [long_line]  # under the limit: whole
    finally:
        await transport.close()


async def test_the_read_only_handle_reports_a_long_stream_line_too(
    ssh_lab: SshLab, gpu_node: LabNode
) -> None:
    command = "head -c 100000 /dev/zero; echo  # a registered read, for this test"
    register_read_only(command)
    handle = ReadOnlyTransport(SSHTransport(lab_node_model(ssh_lab, gpu_node)))
    try:
        with pytest.raises(OutputTooLarge, match=r"gpu1: output too large \(a line over 64 KiB\)"):
            async for _ in handle.stream(command):
                pass
    finally:
        await handle.close()


async def test_local_commands_are_capped_too() -> None:
    local = LocalTransport("here", command_timeout=60)
    outcome, peak = await peak_of(lambda: local.run("head -c 50000000 /dev/zero"))
    assert isinstance(outcome, OutputTooLarge)
    assert "here: output too large (>4 MiB)" in str(outcome)
    assert peak < BOUND
    assert (await local.run("echo ok")).stdout == "ok\n"


def test_a_cut_local_command_leaves_nothing_behind_to_complain() -> None:
    # A pipe we stopped reading keeps asyncio's transport open; collected after the loop, it prints
    # "Exception ignored ... Event loop is closed" on stderr. The console must stay silent.
    script = (
        "import asyncio, gc\n"
        "from console.transport import LocalTransport, OutputTooLarge\n"
        "async def main():\n"
        "    try:\n"
        "        await LocalTransport('here').run('head -c 50000000 /dev/zero; sleep 30')\n"
        "    except OutputTooLarge:\n"
        "        print('cut')\n"
        "asyncio.run(main())\n"
        "gc.collect()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.stdout, done.stderr, done.returncode) == ("cut\n", "", 0)


def test_line_splitter_keeps_lines_whole_across_chunks_and_stops_at_the_limit() -> None:
    splitter = LineSplitter(limit=8)
    for chunk in (b"ab", b"c\nde", b"f\n\ngh"):
        splitter.feed(chunk)
    assert [splitter.next_line() for _ in range(4)] == [b"abc", b"def", b"", None]
    assert splitter.rest() == b"gh"
    splitter.feed(b"123456789")
    assert splitter.overflowed
    assert splitter.next_line() is None
