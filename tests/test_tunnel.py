"""Tunnels to a container port published on 127.0.0.1 only, inside the lab node's network namespace: it is not
reachable from this machine, and a tunnel through the node's real SSH connection reaches it."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from console.inventory import load_inventory
from console.inventory.model import HttpProbe, ServiceSpec
from console.tunnels import TunnelRegistry, fetch_status, reachable_directly
from console.wizards.cli import add_wizard_commands, run_wizard_command

if TYPE_CHECKING:
    from tests.lab.stack_images import StackEnv

pytest_plugins = ["tests.lab.stack_images"]

PORT = 11434
ROOT = Path(__file__).resolve().parent.parent


def fetch(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode()


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


async def ollama_up(stack: StackEnv, host_port: int = PORT) -> None:
    await asyncio.to_thread(
        stack.lab.docker,
        "run",
        "-d",
        "--init",
        "--name",
        "ollama",
        "-p",
        f"127.0.0.1:{host_port}:{PORT}",
        stack.lab.images["ollama"],
    )
    deadline = asyncio.get_running_loop().time() + 20
    while (
        await stack.transport.run(f"wget -q -O - http://127.0.0.1:{host_port}/ 2>&1 || true")
    ).stdout.strip() == "":
        assert asyncio.get_running_loop().time() < deadline, "the stand-in never answered on the node"
        await asyncio.sleep(0.05)


async def test_registry_tunnel_reaches_a_localhost_only_container_port(stack: StackEnv) -> None:
    await ollama_up(stack)
    assert not await reachable_directly("127.0.0.1", PORT)  # published inside the node's namespace only

    tunnels = TunnelRegistry()
    spec = ServiceSpec("ollama", PORT, "ollama", "127.0.0.1", HttpProbe())
    tunnel = await tunnels.open(stack.transport, spec)
    assert tunnel.url == f"http://127.0.0.1:{tunnel.local_port}/"
    assert tunnel.describe() == f"{tunnel.url} → stack1:127.0.0.1:{PORT} (ollama)"
    assert await asyncio.to_thread(fetch, tunnel.url) == (200, "Ollama is running\n")
    assert await tunnels.open(stack.transport, spec) == tunnel  # one tunnel per service, reused
    assert tunnels.list() == (tunnel,)
    assert tunnels.get("stack1", "ollama") == tunnel
    tunnels.forget("stack1")
    assert tunnels.list() == ()
    await stack.transport.close()
    assert await fetch_status(tunnel.local_port) is None  # the tunnel closes with the connection


async def tunnel_process(stack: StackEnv, *args: str, extra: str = "") -> asyncio.subprocess.Process:
    inventory = stack.root / "inventory.yaml"
    text = stack.lab.node.inventory_yaml(socket_path=stack.lab.socket, extra=extra)
    await asyncio.to_thread(write, inventory, text)
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console.wizards.cli",
        "-i",
        str(inventory),
        "tunnel",
        "stack1",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ),
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_tunnel_command_prints_the_url_and_stays_up_until_ctrl_c(stack: StackEnv) -> None:
    await ollama_up(stack)
    process = await tunnel_process(stack, "ollama")
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=20)).decode()
        assert line.startswith("tunnel open: http://127.0.0.1:"), line
        url = line.split()[2]
        assert line.strip().endswith(f"→ stack1:127.0.0.1:{PORT} (ollama)")
        assert (await process.stdout.readline()).decode().startswith("open the URL in a browser")
        assert await asyncio.to_thread(fetch, url) == (200, "Ollama is running\n")
        assert await asyncio.to_thread(fetch, url) == (200, "Ollama is running\n")  # still up
        process.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(process.communicate(), timeout=20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err
    assert out.decode().strip() == "closed"
    assert await fetch_status(int(url.rsplit(":", 1)[1].strip("/"))) is None


def test_unknown_service_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("version: 1\nname: t\nnodes:\n  gpu1: {host: 127.0.0.1}\n", encoding="utf-8")
    parser = argparse.ArgumentParser()
    add_wizard_commands(parser.add_subparsers(dest="command"))
    code = run_wizard_command(
        parser.parse_args(["tunnel", "gpu1", "grafana"]), load_inventory(str(inventory))
    )
    assert code == 2
    assert capsys.readouterr().err == (
        "opsconsole: gpu1 has no service 'grafana' (known: comfy, ollama, openwebui; or give a port number)\n"
    )


async def test_tunnel_goes_where_docker_publishes_on_the_port_asked_for(stack: StackEnv) -> None:
    # The inventory says ollama is on 11434 (a services entry); Docker publishes it on 127.0.0.1:21434.
    await ollama_up(stack, host_port=21434)
    local = free_port()
    services = "    services:\n      - {name: ollama, port: 11434, container: ollama}\n"
    process = await tunnel_process(stack, "ollama", "--port", str(local), extra=services)
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=20)).decode()
        assert line == f"tunnel open: http://127.0.0.1:{local}/ → stack1:127.0.0.1:21434 (ollama)\n"
        note = (await process.stdout.readline()).decode()
        assert note == (
            "  note: the inventory's services.ollama says port 11434, but Docker publishes ollama on "
            "127.0.0.1:21434: forwarding there\n"
        )
        assert (await process.stdout.readline()).decode().startswith("open the URL in a browser")
        assert await asyncio.to_thread(fetch, f"http://127.0.0.1:{local}/") == (200, "Ollama is running\n")

        # A connection the node refuses is reported, not an "Empty reply" in silence.
        await asyncio.to_thread(stack.lab.docker, "rm", "-f", "ollama")
        assert await fetch_status(local) is None
        assert process.stderr is not None
        said = (await asyncio.wait_for(process.stderr.readline(), timeout=20)).decode()
        assert said.startswith("opsconsole: tunnel: a connection to 127.0.0.1:21434 on stack1 failed: ")
        process.send_signal(signal.SIGINT)
        out, _ = await asyncio.wait_for(process.communicate(), timeout=20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0
    assert out.decode().strip() == "closed"


async def test_no_tunnel_to_a_service_that_is_not_there(stack: StackEnv) -> None:
    process = await tunnel_process(stack, "comfy")
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 1
    assert out == b""
    assert err.decode() == (
        "opsconsole: stack1: nothing answers on 127.0.0.1:8188 on stack1 (port from the AI stack's default "
        f"port): {err.decode().split('default port): ', 1)[1].split(';', 1)[0]}; Docker on stack1 has no "
        "container comfy: no tunnel opened\n"
    )
    assert "Connection refused" in err.decode() or "open failed" in err.decode().lower()


async def test_a_taken_local_port_is_refused(stack: StackEnv) -> None:
    await ollama_up(stack)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = await tunnel_process(stack, "ollama", "--port", str(port))
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 1
    assert out == b""
    assert err.decode() == f"opsconsole: port {port} on 127.0.0.1 is in use: pick another with --port\n"


def test_port_must_be_a_port(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_wizard_commands(parser.add_subparsers(dest="command"))
    assert parser.parse_args(["tunnel", "gpu1", "ollama", "--port", "8080"]).tunnel_port == 8080
    with pytest.raises(SystemExit):
        parser.parse_args(["tunnel", "gpu1", "ollama", "--port", "70000"])
    assert "not a port number (1-65535): '70000'" in capsys.readouterr().err


async def answering(reply: bytes, *, close: bool = True) -> asyncio.Server:
    """A real TCP server on loopback that reads the request and sends `reply` (then closes, or holds)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(reply)
        await writer.drain()
        if not close:
            await asyncio.sleep(30)
        writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        (b"x" * 100_000, None),  # over the StreamReader's 64 KiB line limit, no newline: not HTTP
        (b"HTTP/1.1 200 OK" + b"x" * 100_000, 200),  # a status line that never ends: its head is read
        (b"HTTP/1.1 \xb2 OK\r\n\r\n", None),  # '²' passes str.isdigit() and int() refuses it
        (b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n\r\n", 503),
    ],
)
async def test_a_hostile_service_cannot_crash_the_tunnel_check(reply: bytes, status: int | None) -> None:
    for close in (True, False):
        server = await answering(reply, close=close)
        port = server.sockets[0].getsockname()[1]
        try:
            assert await fetch_status(port, timeout=5) == status
        finally:
            server.close()
