"""The Docker paths against a hostile node: other users' processes, huge events, deep JSON, huge replies.

Real parts: the lab's sshd and dockerds (tests/lab/docker_fixtures.py), a process any user can start
under the name dockerd, and a local HTTP server standing in for a dockerd that answers too much.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from console.collectors.docker import (
    HOST_PROBE,
    MAX_EVENT_BYTES,
    close_docker_clients,
    collect_docker,
    watch_events,
)
from console.collectors.docker_model import HostProbeError, loads_bounded, parse_host_probe
from console.inventory.model import DockerSettings, Node
from console.streams import docker_events
from console.streams.docker_events import DockerWatcher
from console.transport import LocalTransport, SSHTransport
from console.transport.readonly import MAX_RELAY_BODY, ReadOnlyTransport
from console.wizards.fix_model import FixInput
from console.wizards.fixes import run_fix
from tests.lab.docker_fixtures import IMAGE, TCP_API, DockerLab
from tests.lab.models import lab_node_model
from tests.lab.sshd import LabNode, SshLab

if TYPE_CHECKING:
    from tests.lab.stack_images import StackEnv

pytest_plugins = ["tests.lab.stack_images"]

NOBODY = 65534


def docker_node(lab: SshLab, node: LabNode, socket: str) -> Node:
    return lab_node_model(lab, node, docker=DockerSettings(socket=socket))


@pytest.fixture
async def ssh(ssh_lab: SshLab, plain_node: LabNode) -> AsyncIterator[Callable[[Node], SSHTransport]]:
    made: list[SSHTransport] = []

    def make(node: Node) -> SSHTransport:
        made.append(SSHTransport(node))
        return made[-1]

    yield make
    for transport in made:
        await close_docker_clients(transport)
        await transport.close()


@pytest.fixture
def fake_dockerd() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start `exec -a dockerd bash -c "sleep 30; :" x ARGS...` as nobody: what any user of a node can do."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            ["dockerd", "-c", "sleep 30; :", "x", *args], executable="/bin/bash", user=NOBODY, group=NOBODY
        )
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()
        process.wait()


FORGERIES = {
    "bare pid": ("@@ pid",),
    "odd pid": ("@@ pid ²",),
    "listener": ("@@ listen", "00000000:0947", "@@ hostlisten", "00000000:0947"),
    "config file": ("--config-file", "/etc/passwd"),
}


@pytest.mark.parametrize("args", FORGERIES.values(), ids=FORGERIES.keys())
async def test_a_dockerd_any_user_starts_is_not_believed(
    docker_lab: DockerLab,
    ssh_lab: SshLab,
    plain_node: LabNode,
    ssh: Callable[[Node], SSHTransport],
    fake_dockerd: Callable[..., subprocess.Popen[bytes]],
    args: tuple[str, ...],
) -> None:
    fake = fake_dockerd(*args)
    node = docker_node(ssh_lab, plain_node, docker_lab.socket)
    transport = ssh(node)
    probe = await transport.run(HOST_PROBE, timeout=10)
    assert f"@@ pid {fake.pid}" not in probe.stdout.split("\n")  # seen by pidof, dropped: not root's
    daemons, host = parse_host_probe(probe.stdout)
    pids = {daemon.pid for daemon in daemons}
    assert fake.pid not in pids
    assert {docker_lab.main.pid, docker_lab.tcp.pid} <= pids
    assert host == ()
    assert all(daemon.config is not None for daemon in daemons)  # their own daemon.json, not /etc/passwd

    snapshot = await collect_docker(transport, node)
    assert snapshot.error is None
    assert snapshot.engine is not None
    assert snapshot.engine.tcp_listeners == ()
    tcp = docker_node(ssh_lab, plain_node, docker_lab.tcp_socket)
    snapshot = await collect_docker(ssh(tcp), tcp)
    assert snapshot.engine is not None
    assert snapshot.engine.tcp_listeners == (TCP_API,)


def test_arguments_cannot_open_a_section_and_bad_output_is_one_clear_error() -> None:
    # Root's own dockerd with hostile-looking arguments: each stays an argument.
    daemons, host = parse_host_probe(
        "@@ pid 7\na dockerd\na @@ listen\na 00000000:0947\n@@ listen\n@@ hostlisten\n"
    )
    assert daemons[0].argv == ("dockerd", "@@ listen", "00000000:0947")
    assert daemons[0].api_port_listeners == ()
    assert host == ()
    for broken in ("@@ pid\n", "@@ pid ²\n", "@@ pid 1 2\n", "@@ \n", "@@ frobnicate\n"):
        with pytest.raises(HostProbeError, match="unreadable dockerd probe output"):
            parse_host_probe(broken)


def test_deeply_nested_json_is_not_json() -> None:
    deep = "[" * 200_000
    daemons, _ = parse_host_probe(f"@@ pid 7\na dockerd\n@@ config /etc/docker/daemon.json\nc {deep}\n\n")
    assert daemons[0].config is None
    with pytest.raises(ValueError, match="nested too deeply"):
        loads_bounded(deep, 1 << 20)
    with pytest.raises(ValueError, match="larger than"):
        loads_bounded("{}" + " " * 100, 10)


async def test_deeply_nested_daemon_json_is_reported_not_raised(
    docker_lab: DockerLab, ssh_lab: SshLab, plain_node: LabNode, ssh: Callable[[Node], SSHTransport]
) -> None:
    node = docker_node(ssh_lab, plain_node, docker_lab.socket)
    config = docker_lab.main.config_file
    saved = config.read_bytes()
    config.write_text("[" * 200_000, encoding="utf-8")  # dockerd reads it at start only
    try:
        snapshot = await collect_docker(ssh(node), node)
    finally:
        config.write_bytes(saved)
    assert snapshot.error is None
    assert snapshot.container("web") is not None


async def test_an_event_too_long_to_read_asks_for_a_relist_and_the_stream_goes_on(
    docker_lab: DockerLab, ssh_lab: SshLab, plain_node: LabNode, ssh: Callable[[Node], SSHTransport]
) -> None:
    node = docker_node(ssh_lab, plain_node, docker_lab.socket)
    big, small = f"big-{uuid.uuid4().hex[:8]}", f"small-{uuid.uuid4().hex[:8]}"
    since = datetime.now(UTC) - timedelta(seconds=1)
    # Every event of this container carries its labels: 700 KB, past aiohttp's 512 KiB line limit.
    labels = {f"l{index}": "x" * 70_000 for index in range(10)}
    docker_lab.main.api(
        "POST", f"/containers/create?name={big}", {"Image": IMAGE, "Cmd": ["true"], "Labels": labels}
    )
    await asyncio.to_thread(docker_lab.run_container, small, IMAGE, "true")
    events = watch_events(ssh(node), node, since=since)
    seen: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(15):
            async for event in events:
                seen.append(event)
                if (
                    event.get("Actor", {}).get("Attributes", {}).get("name") == small
                    and event["Action"] == "die"
                ):
                    break
    finally:
        await events.aclose()
        await asyncio.to_thread(docker_lab.remove, small)
        await asyncio.to_thread(docker_lab.remove, big)
    assert any(event.get("unreadable") for event in seen)
    assert MAX_EVENT_BYTES < 700_000


async def test_the_watcher_survives_a_round_that_raises(
    docker_lab: DockerLab,
    ssh_lab: SshLab,
    plain_node: LabNode,
    ssh: Callable[[Node], SSHTransport],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    node = docker_node(ssh_lab, plain_node, docker_lab.socket)
    calls = 0
    real = docker_events.collect_docker

    async def first_one_raises(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise IndexError("list index out of range")  # what a parser bug looked like
        return await real(*args, **kwargs)

    monkeypatch.setattr(docker_events, "collect_docker", first_one_raises)
    watcher = DockerWatcher(ssh(node), node, safety_every=60)
    try:
        first = await watcher.first(5)
        assert first is not None
        assert "IndexError" in (first.error or "")
        assert watcher.running
        again = await watcher.relist_now(15)
        assert again is not None
        assert again.error is None
        assert again.container("web") is not None
    finally:
        await watcher.close()


async def _too_much(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A dockerd that answers more than anyone should hold: by Content-Length, chunked, or until close."""
    head = await reader.readuntil(b"\r\n\r\n")
    path = head.split(b" ")[1]
    size = MAX_RELAY_BODY + 1024 * 1024
    block = b"x" * (1024 * 1024)
    try:
        if path == b"/declared":
            writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
            for _ in range(size // len(block)):
                writer.write(block)
                await writer.drain()
        elif path == b"/chunked":
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(size // len(block)):
                writer.write(f"{len(block):x}\r\n".encode() + block + b"\r\n")
                await writer.drain()
            writer.write(b"0\r\n\r\n")
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
        await writer.drain()
    except OSError:
        pass  # the filter hung up on us: what it should do
    finally:
        writer.close()


async def _fetch(proxy: str, path: str) -> bytes:
    reader, writer = await asyncio.open_unix_connection(proxy)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    received = b""
    try:
        while data := await reader.read(1 << 20):
            received += data
    finally:
        writer.close()
    return received


async def test_the_read_only_filter_caps_reply_bodies(tmp_path: Path) -> None:
    socket_path = str(tmp_path / "docker.sock")
    server = await asyncio.start_unix_server(_too_much, path=socket_path)
    handle = ReadOnlyTransport(LocalTransport("big"))
    try:
        proxy = await handle.forward_unix_socket(socket_path)
        async with asyncio.timeout(30):
            declared = await _fetch(proxy, "/declared")
            chunked = await _fetch(proxy, "/chunked")
            small = await _fetch(proxy, "/_ping")
    finally:
        await handle.close()
        server.close()
        await server.wait_closed()
    assert declared.startswith(b"HTTP/1.1 502")
    assert b"larger than" in declared
    assert len(declared) < 4096
    assert chunked.startswith(b"HTTP/1.1 200")
    assert MAX_RELAY_BODY - (1 << 20) < len(chunked) <= MAX_RELAY_BODY + 4096  # cut at the cap
    assert not chunked.endswith(b"0\r\n\r\n")  # cut off, never completed
    assert small.endswith(b"\r\n\r\nOK")


async def test_the_runtime_fix_calls_deeply_nested_daemon_json_not_json(stack: StackEnv) -> None:
    daemon = stack.lab.new_dockerd("deep-json", nvidia=False)
    node = stack.node_for(str(daemon.socket))
    transport = SSHTransport(node)
    ctx = stack.context()
    ctx.transport, ctx.node = transport, node
    try:
        daemon.config_file.write_text("[" * 200_000, encoding="utf-8")  # read at start only: dockerd is fine
        run = await run_fix("nvidia-runtime", ctx, FixInput(stack.settings), yes=True)
    finally:
        await close_docker_clients(transport)
        await transport.close()
        daemon.stop()
    assert not run.ok
    assert run.report is not None
    failed = [step for step in run.report.steps if step.state == "failed"]
    assert len(failed) == 1
    assert "is not valid JSON (nested too deeply)" in failed[0].summary
