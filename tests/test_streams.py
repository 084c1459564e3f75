"""The GPU stream and long-lived SSH streams against real sshd nodes replaying real H100 captures."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from console.checks.runner import run_checks
from console.collectors.gpu import parse_query_gpu
from console.collectors.node_facts import collect_node_facts
from console.inventory.model import Inventory, StorageSpec
from console.poll import close_transports
from console.streams.gpu_stream import GpuStream
from console.streams.source import StreamingSource
from console.transport import SSHTransport, transports_for
from console.transport.readonly import ReadOnlyTransport
from tests.lab.common import CAPTURE_DIR
from tests.lab.models import lab_node_model
from tests.lab.sshd import LabNode, SshLab, descendant_levels

DEADLINE_S = 10.0


async def eventually(condition: Callable[[], bool], what: str, timeout: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g}s: {what}")
        await asyncio.sleep(0.02)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def status(stream: GpuStream) -> str | None:
    snapshot = stream.snapshot()
    return snapshot.status if snapshot is not None else None


@pytest.fixture(scope="module")
def load_node(ssh_lab: SshLab) -> Iterator[LabNode]:
    """A node replaying the H100 under load: its one-second series changes from row to row."""
    node = ssh_lab.start_node("gpu-load", gpu_capture="load")
    yield node
    node.stop()


async def test_stream_yields_the_replayed_samples_as_they_come(ssh_lab: SshLab, load_node: LabNode) -> None:
    transport = SSHTransport(lab_node_model(ssh_lab, load_node))
    stream = GpuStream(transport, interval=0.1)
    seen = []
    try:
        first = await stream.first(timeout=5)
        while len(seen) < 5:
            await eventually(lambda: stream.samples > len(seen), "the next sample")
            snapshot = stream.snapshot()
            assert snapshot is not None
            seen.append(snapshot)
    finally:
        await stream.close()
        await transport.close()
    series = (CAPTURE_DIR / "load-query-gpu-series.csv").read_text().splitlines()
    assert first.status == "ok"
    assert first.gpus == parse_query_gpu(series[0])
    assert all(snapshot.status == "ok" and len(snapshot.gpus) == 1 for snapshot in seen)
    assert len({snapshot.gpus[0].power_draw_w for snapshot in seen}) > 1  # the series moves
    assert stream.starts == 1
    assert stream.remote_pid is not None


async def test_a_killed_stream_is_restarted(ssh_lab: SshLab, load_node: LabNode) -> None:
    transport = SSHTransport(lab_node_model(ssh_lab, load_node))
    stream = GpuStream(transport, interval=0.1, restart_first=0.2)
    try:
        await stream.first(timeout=5)
        killed = stream.remote_pid
        assert killed is not None
        assert alive(killed)
        os.kill(killed, signal.SIGKILL)  # the node's nvidia-smi dies
        await eventually(lambda: stream.remote_pid != killed, "a new nvidia-smi")
        samples = stream.samples
        await eventually(lambda: stream.samples > samples, "samples from the new process")
        restarted = stream.remote_pid
        assert restarted is not None
        assert alive(restarted)
        snapshot = stream.snapshot()
        assert snapshot is not None
        assert snapshot.status == "ok"
        assert stream.starts == 2
    finally:
        await stream.close()
        await transport.close()
    await eventually(lambda: not alive(restarted), "the stream's process ends when the stream is closed")


async def test_a_silent_stream_goes_stale_after_three_intervals(ssh_lab: SshLab) -> None:
    node = ssh_lab.start_node("gpu-stall", gpu_capture="idle")
    (node.bin_dir.parent / "nvidia-smi-replay" / "stall-after").write_text("3\n")  # then hangs, silent
    transport = SSHTransport(lab_node_model(ssh_lab, node))
    stream = GpuStream(transport, interval=0.2)
    try:
        await stream.first(timeout=5)
        await eventually(lambda: stream.samples == 3, "three samples")
        fresh = stream.snapshot()
        assert fresh is not None
        assert fresh.status == "ok"
        silent_since = time.monotonic()
        await eventually(
            lambda: stream.snapshot() is not None and stream.snapshot().status == "error", "stale"
        )  # type: ignore[union-attr]
        noticed_after = time.monotonic() - silent_since
        stale = stream.snapshot()
    finally:
        await stream.close()
        await transport.close()
        node.stop()
    assert stale is not None
    assert stale.error is not None
    assert stale.error.startswith("GPU data stale: no row from nvidia-smi for ")
    assert stale.error.endswith("(every 0.2s)")
    assert stale.gpus == fresh.gpus  # the last readings stay, marked stale
    assert noticed_after > 0.3  # not before 3 intervals (0.6 s) after the last row, minus our polling lag
    assert stream.samples == 3
    assert stream.starts == 1  # a hung nvidia-smi is reported, not restarted in a loop


async def test_a_node_without_nvidia_smi_is_asked_once(ssh_lab: SshLab, plain_node: LabNode) -> None:
    transport = SSHTransport(lab_node_model(ssh_lab, plain_node))
    stream = GpuStream(transport, interval=0.1, restart_first=0.05)
    try:
        snapshot = await stream.first(timeout=5)
        await asyncio.sleep(0.5)  # many restart periods: it must not be retried within them
    finally:
        await stream.close()
        await transport.close()
    assert snapshot.status == "no_tooling"
    assert snapshot.error == "no GPU tooling: nvidia-smi not found"
    assert stream.starts == 1


async def test_leaving_a_stream_ends_the_remote_process(ssh_lab: SshLab, plain_node: LabNode) -> None:
    transport = SSHTransport(lab_node_model(ssh_lab, plain_node))
    try:
        lines = transport.stream("echo $$; while :; do echo tick; sleep 0.05; done")
        pid = int(await anext(lines))
        assert await anext(lines) == "tick"
        assert transport.budget.streams == 1
        await lines.aclose()  # what a cancelled consumer does too
        await eventually(lambda: not alive(pid), "the remote loop ends")
        await eventually(lambda: transport.budget.in_use == 0, "the channel's slot comes back")
        finite = [line async for line in transport.stream("for i in 1 2 3; do echo $i; done")]
    finally:
        await transport.close()
    assert finite == ["1", "2", "3"]


async def test_the_exit_status_is_known_once_the_output_ended(ssh_lab: SshLab, plain_node: LabNode) -> None:
    # sshd may send the exit status just after the end of output: readline() waits for it (a race that
    # showed up about once in 200 streams before it did).
    transport = SSHTransport(lab_node_model(ssh_lab, plain_node))
    statuses = []
    try:
        for _ in range(150):
            lines = await transport.open_stream("exec sh -c 'echo started; exec nvidia-smi -L'")
            while await lines.readline() is not None:
                pass
            statuses.append(lines.exit_status)
            await lines.close()
    finally:
        await transport.close()
    assert statuses == [127] * 150


async def test_cancelling_the_reader_ends_the_remote_process(ssh_lab: SshLab, plain_node: LabNode) -> None:
    transport = SSHTransport(lab_node_model(ssh_lab, plain_node))
    pids: list[int] = []

    async def consume() -> None:
        async for line in transport.stream("echo $$; exec sleep 60"):
            pids.append(int(line))

    try:
        task = asyncio.create_task(consume())
        await eventually(lambda: bool(pids), "the remote pid")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await eventually(lambda: not alive(pids[0]), "the remote sleep ends")
    finally:
        await transport.close()


async def test_streaming_source_polls_and_checks_one_shot(ssh_lab: SshLab, gpu_node: LabNode) -> None:
    node = lab_node_model(ssh_lab, gpu_node, refresh=0.2)
    inventory = Inventory("lab", "lab.yaml", (node,))
    source = StreamingSource(inventory, one_shot=True)
    try:
        report = await run_checks(inventory, source, timeout=20)
        basics = source.latest_basics[node.name]
        streams = source.streams[node.name]
    finally:
        await source.close()
    results = {result.check: result for result in report.results}
    assert results["gpu.present"].status.name == "OK"
    assert results["gpu.present"].summary.startswith("1 GPU: NVIDIA H100 80GB HBM3")
    assert basics.error is None
    assert basics.disk("/") is not None
    assert streams.sections.get("gpu") is not None
    assert streams["gpu"].stream.starts == 1
    assert streams["gpu"].process_reads == 0  # one-shot: no background process list


async def test_read_only_wrapper_streams_through_registered_commands(
    ssh_lab: SshLab, gpu_node: LabNode
) -> None:
    node = lab_node_model(ssh_lab, gpu_node)
    source = StreamingSource(Inventory("lab", "lab.yaml", (node,)), one_shot=True, read_only=True)
    try:
        snapshot = await source.poll(node)
        streams = source.streams[node.name]
        wrapped = source.transports[node.name]
    finally:
        await source.close()
    assert snapshot.reachable
    assert snapshot.gpu is not None
    assert snapshot.gpu.status == "ok"
    assert isinstance(wrapped, ReadOnlyTransport)
    # The wrapper's open_stream lets the registered GPU stream through; anything else it refuses.
    assert streams.sections.get("gpu") is not None
    assert source.latest_basics[node.name].error is None


async def test_nodes_behind_a_jump_host_share_its_one_connection(
    ssh_lab: SshLab, gpu_node: LabNode, load_node: LabNode
) -> None:
    bastion = ssh_lab.start_node("bastion", gpu_capture=None)
    jumped = tuple(lab_node_model(ssh_lab, node, ssh={"jump": "bastion"}) for node in (gpu_node, load_node))
    inventory = Inventory("lab", "lab.yaml", (lab_node_model(ssh_lab, bastion), *jumped))
    source = StreamingSource(inventory)  # every node, so that close() closes the bastion's transport too
    try:
        snapshots = [await source.poll(node) for node in jumped]
        again = [await source.poll(node) for node in jumped]
        connections = descendant_levels(bastion.process.pid)[0]  # sshd forks one child per connection
    finally:
        await source.close()
        bastion.stop()
    assert [snapshot.gpu.status for snapshot in (*snapshots, *again) if snapshot.gpu] == ["ok"] * 4
    assert len(connections) == 1


async def test_closing_closes_a_jump_host_that_is_not_a_selected_node(
    ssh_lab: SshLab, gpu_node: LabNode
) -> None:
    bastion = ssh_lab.start_node("bastion2", gpu_capture=None)
    jumped = lab_node_model(ssh_lab, gpu_node, ssh={"jump": "bastion2"})
    inventory = Inventory("lab", "lab.yaml", (lab_node_model(ssh_lab, bastion), jumped))
    source = StreamingSource(inventory, (jumped,))  # only the node behind the jump host is selected

    def connections() -> list[int]:  # sshd forks one child per connection
        levels = descendant_levels(bastion.process.pid)
        return levels[0] if levels else []

    try:
        assert (await source.poll(jumped)).reachable
        assert len(connections()) == 1
        await source.close()
        for _ in range(200):  # the bastion's sshd child exits once our side closed: up to 10 s
            if not connections():
                break
            await asyncio.sleep(0.05)
        left = connections()
    finally:
        bastion.stop()
    assert left == []  # the bastion's connection was closed too, not leaked


async def test_closing_a_wizards_transports_closes_the_jump_host_too(
    ssh_lab: SshLab, gpu_node: LabNode
) -> None:
    # The wizards and tunnels make their transports with transports_for and close them with close_transports,
    # as the snapshot source does: a jump host that is an inventory node but not selected is closed as well.
    bastion = ssh_lab.start_node("bastion3", gpu_capture=None)
    jumped = lab_node_model(ssh_lab, gpu_node, ssh={"jump": "bastion3"})
    transports = transports_for(
        Inventory("lab", "lab.yaml", (lab_node_model(ssh_lab, bastion), jumped)), (jumped,)
    )

    def connections() -> list[int]:
        levels = descendant_levels(bastion.process.pid)
        return levels[0] if levels else []

    try:
        assert (await transports[jumped.name].run("true", timeout=10)).ok
        assert len(connections()) == 1
        await close_transports(transports)
        for _ in range(200):
            if not connections():
                break
            await asyncio.sleep(0.05)
        left = connections()
    finally:
        bastion.stop()
    assert left == []


async def test_every_poll_runs_the_on_demand_collectors(ssh_lab: SshLab, plain_node: LabNode) -> None:
    # Node facts have no stream: streaming or one-shot, cold or warm, each poll reads them.
    node = lab_node_model(ssh_lab, plain_node, storage=(StorageSpec("/tmp"),))
    inventory = Inventory("lab", "lab.yaml", (node,))
    streaming, once = StreamingSource(inventory), StreamingSource(inventory, one_shot=True)
    try:
        streamed = [await streaming.poll(node) for _ in range(2)]
        polled = await once.poll(node)
        direct = await collect_node_facts(once.transports[node.name], node, timeout=10)
    finally:
        await streaming.close()
        await once.close()
    assert direct.storage[0].kind == "directory"
    for snapshot in (*streamed, polled):
        assert snapshot.facts is not None
        assert snapshot.facts.storage == direct.storage


async def test_a_stream_writing_megabytes_to_stderr_keeps_its_stdout_flowing(
    ssh_lab: SshLab, plain_node: LabNode
) -> None:
    # Unread stderr filled the channel's receive window (2 MiB) and asyncssh paused the whole channel:
    # stdout stopped for good and the stream never ended, so it was never restarted either.
    transport = SSHTransport(lab_node_model(ssh_lab, plain_node))
    command = (
        "head -c 3145728 /dev/zero | tr '\\0' x >&2; echo 'the last words' >&2; "
        "i=0; while :; do i=$((i+1)); echo line $i; sleep 0.05; done"
    )
    lines = await transport.open_stream(command)
    seen: list[str] = []
    try:
        async with asyncio.timeout(DEADLINE_S):
            while len(seen) < 5:
                line = await lines.readline()
                assert line is not None, lines.error
                seen.append(line)
        tail = lines.stderr_tail
    finally:
        await lines.close()
        await transport.close()
    assert seen == [f"line {i}" for i in range(1, 6)]
    assert tail.endswith("xxthe last words\n")
    assert 0 < len(tail) <= 4096  # a small tail, never the 3 MiB


async def test_gpu_data_keeps_coming_from_an_nvidia_smi_that_floods_stderr(ssh_lab: SshLab) -> None:
    # A driver warning repeated on stderr: past 2 MiB unread, the channel paused and the GPU data went stale.
    node = ssh_lab.start_node("gpu-noisy", gpu_capture="load")
    replay = node.bin_dir / "nvidia-smi"
    replay.rename(node.bin_dir / "nvidia-smi.replay")
    replay.write_text(
        "#!/bin/sh\n"
        "yes 'WARNING: infoROM is corrupted at gpu 0000:18:00.0' | head -c 3145728 >&2\n"
        'exec "$(dirname "$0")/nvidia-smi.replay" "$@"\n',
        encoding="utf-8",
    )
    replay.chmod(0o755)
    transport = SSHTransport(lab_node_model(ssh_lab, node))
    stream = GpuStream(transport, interval=0.1)
    try:
        first = await stream.first(timeout=DEADLINE_S)
        await eventually(lambda: stream.samples >= 5, "five samples after the flood")
        latest = stream.snapshot()
    finally:
        await stream.close()
        await transport.close()
        node.stop()
    assert first.status == "ok", first.error
    assert latest is not None
    assert latest.status == "ok", latest.error
    assert stream.starts == 1
