"""The tunnel service over a real sshd: a hung node (its sshd frozen) is noticed by the keepalive, the
tunnel leaves `up` and comes back once the node answers again; a remote end that listens only later is
checked again after the backoff and the tunnel comes up by itself."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from console.model.tunnels import TunnelSpec, TunnelView
from console.transport.ssh import SSHTransport
from console.tunnels_service import TunnelService
from tests.lab.models import lab_node_model
from tests.lab.node import LabNode
from tests.lab.sshd import SshLab


@pytest.fixture
def node(ssh_lab: SshLab) -> Iterator[LabNode]:
    made = ssh_lab.start_node("tunnels1", gpu_capture=None)
    yield made
    made.stop()


async def _echo() -> tuple[asyncio.Server, int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _state(service: TunnelService, name: str, wanted: set[str], timeout: float) -> TunnelView:
    async with asyncio.timeout(timeout):
        while service.view(name).state not in wanted:
            service.changed.clear()
            await service.changed.wait()
    return service.view(name)


async def _round_trip(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"ping")
    try:
        async with asyncio.timeout(10):
            return await reader.readexactly(4)
    finally:
        writer.close()


async def test_a_hung_node_is_noticed_and_the_tunnel_comes_back(ssh_lab: SshLab, node: LabNode) -> None:
    server, port = await _echo()  # on this machine's loopback, which is also the lab node's
    transport = SSHTransport(lab_node_model(ssh_lab, node, ssh={"keepalive_interval": 1}))
    spec = TunnelSpec("echo", node.name, "127.0.0.1", port)
    service = TunnelService((spec,), {node.name: transport}, backoff_first=0.2, backoff_max=1.0)
    try:
        await service.start()
        up = await _state(service, "echo", {"up"}, 15)
        assert up.local_port is not None
        assert await _round_trip(up.local_port) == b"ping"
        node.freeze()  # the connection goes silent: no FIN, no RST; only the keepalive can tell
        lost = await _state(service, "echo", {"connecting", "down"}, 15)
        assert lost.last_error is not None
        assert lost.last_error.startswith(f"{node.name}: ")
        assert lost.local_port == up.local_port  # the local end stays ours while the node is away
        node.thaw()
        back = await _state(service, "echo", {"up"}, 30)
        assert back.local_port == up.local_port
        assert await _round_trip(up.local_port) == b"ping"
    finally:
        node.thaw()
        await service.aclose()
        await transport.close()
        server.close()


async def test_a_remote_end_that_comes_later_is_found_by_the_recheck(ssh_lab: SshLab, node: LabNode) -> None:
    held = socket.socket()
    held.bind(("127.0.0.1", 0))  # bound, not listening: refused until listen()
    port = held.getsockname()[1]
    transport = SSHTransport(lab_node_model(ssh_lab, node))
    spec = TunnelSpec("later", node.name, "127.0.0.1", port)
    service = TunnelService((spec,), {node.name: transport}, backoff_first=0.2, backoff_max=1.0)
    try:
        await service.start()
        down = await _state(service, "later", {"down"}, 15)
        assert down.last_error is not None
        assert f"127.0.0.1:{port} did not answer" in down.last_error
        held.listen()  # something answers there now; nothing tells the service but its recheck
        await _state(service, "later", {"up"}, 15)
    finally:
        await service.aclose()
        await transport.close()
        held.close()
