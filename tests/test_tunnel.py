"""Tunnels to a container port published on 127.0.0.1 only, inside the lab node's network namespace: it is not
reachable from this machine, and a tunnel through the node's real SSH connection reaches it."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
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


async def ollama_up(stack: StackEnv) -> None:
    await asyncio.to_thread(
        stack.lab.docker,
        "run",
        "-d",
        "--init",
        "--name",
        "ollama",
        "-p",
        f"127.0.0.1:{PORT}:{PORT}",
        stack.lab.images["ollama"],
    )
    deadline = asyncio.get_running_loop().time() + 20
    while (
        await stack.transport.run(f"wget -q -O - http://127.0.0.1:{PORT}/ 2>&1 || true")
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


async def test_tunnel_command_prints_the_url_and_stays_up_until_ctrl_c(stack: StackEnv) -> None:
    await ollama_up(stack)
    inventory = stack.root / "inventory.yaml"
    await asyncio.to_thread(write, inventory, stack.lab.node.inventory_yaml(socket_path=stack.lab.socket))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console.wizards.cli",
        "-i",
        str(inventory),
        "tunnel",
        "stack1",
        "ollama",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ),
    )
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
