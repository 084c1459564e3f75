"""The tunnel service over a local node (its transport opens plain TCP): states, bytes, the file_sd
targets, opening and closing one, a taken port, the backoff's bounds and jitter, `tunnels status`."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from console.inventory import load_inventory
from console.model.tunnels import TunnelSpec, TunnelView
from console.transport.local import LocalTransport
from console.tunnels_cli import file_sd_targets, print_status, run_up, state_path, view_json
from console.tunnels_service import JITTER, TunnelService, backoff_delay


async def _echo_server() -> tuple[asyncio.Server, int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _wait(service: TunnelService, name: str, state: str, timeout: float = 10.0) -> TunnelView:
    async with asyncio.timeout(timeout):
        while service.view(name).state != state:
            service.changed.clear()
            await service.changed.wait()
    return service.view(name)


def _dead_port() -> socket.socket:
    held = socket.socket()
    held.bind(("127.0.0.1", 0))  # bound, never listening: a connection there is refused
    return held


async def test_states_bytes_and_targets() -> None:
    server, port = await _echo_server()
    held = _dead_port()
    specs = (
        TunnelSpec("echo", "here", "127.0.0.1", port, labels=(("pod", "a"),)),
        TunnelSpec("nothing", "here", "127.0.0.1", held.getsockname()[1], scrape=False),
    )
    changes: list[tuple[str, str]] = []
    service = TunnelService(
        specs, {"here": LocalTransport("here")}, on_change=lambda v: changes.append((v.spec.name, v.state))
    )
    async with service:
        up = await _wait(service, "echo", "up")
        down = await _wait(service, "nothing", "down")
        assert down.last_error is not None
        assert "did not answer" in down.last_error
        assert up.local_address is not None
        assert up.local_address.startswith("127.0.0.1:")
        reader, writer = await asyncio.open_connection("127.0.0.1", up.local_port)
        writer.write(b"hello")
        await writer.drain()
        assert await reader.readexactly(5) == b"hello"
        view = service.view("echo")  # counted as each chunk passes, before the reader can see it
        assert (view.bytes_out, view.bytes_in, view.connections) == (5, 5, 1)
        writer.close()
        # Both listen (the refused one too: a scraper sees it fail, not vanish); only `echo` is scraped.
        assert file_sd_targets(service.views()) == [
            {
                "targets": [f"127.0.0.1:{up.local_port}"],
                "labels": {"node": "here", "tunnel": "echo", "instance": "here:" + str(port), "pod": "a"},
            }
        ]
        closed = await service.close("echo")
        assert (closed.state, closed.local_port) == ("closed", None)
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", up.local_port)
        assert file_sd_targets(service.views()) == []
        await service.open("echo")
        await _wait(service, "echo", "up")
    assert ("echo", "connecting") in changes
    assert ("echo", "closed") in changes
    assert {view.state for view in service.views()} == {"closed"}
    held.close()
    server.close()


async def test_a_taken_local_port_is_down_with_the_reason() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    spec = TunnelSpec("t", "here", "127.0.0.1", 9, local_port=taken.getsockname()[1])
    async with TunnelService((spec,), {"here": LocalTransport("here")}) as service:
        view = service.view("t")
    assert view.state == "down"
    assert view.last_error == f"127.0.0.1:{spec.local_port} is in use"
    taken.close()


async def test_a_node_without_a_transport_is_down() -> None:
    async with TunnelService((TunnelSpec("t", "ghost", "127.0.0.1", 9),), {}) as service:
        assert service.view("t").last_error == "node ghost is not connected by this console"


def test_backoff_doubles_to_its_cap_with_jitter() -> None:
    for failures, base in ((1, 1.0), (2, 2.0), (4, 8.0), (20, 60.0)):
        delays = [backoff_delay(failures) for _ in range(200)]
        assert all(base * (1 - JITTER) <= d <= base * (1 + JITTER) for d in delays)
        assert len(set(delays)) > 100  # jittered: many tunnels never retry in step


def test_status_reads_the_running_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("inv.yaml").write_text(
        "version: 1\nname: split\nnodes:\n  pod1: {host: 203.0.113.1, gpus: {source: prometheus}}\n",
        encoding="utf-8",
    )
    inventory = load_inventory("inv.yaml")
    spec = TunnelSpec("pod1/dcgm", "pod1", "127.0.0.1", 9400, origin="gpus")
    out = io.StringIO()
    assert print_status(inventory, (spec,), as_json=False, out=out) == 3
    assert out.getvalue().splitlines() == [
        "no `opsconsole tunnels up` is running for inventory split",
        "  pod1/dcgm: pod1 127.0.0.1:9400",
    ]
    from datetime import UTC, datetime

    since = datetime(2026, 12, 6, 12, 0, 5, tzinfo=UTC)
    down = TunnelView(spec, "down", since, 40123, "pod1: connection lost\x1b[2J", 1_234_567, 890)
    path = state_path(inventory)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"pid": os.getpid(), "tunnels": [view_json(down)]}), encoding="utf-8")
    out = io.StringIO()
    assert print_status(inventory, (spec,), as_json=False, out=out) == 1
    assert out.getvalue().splitlines() == [
        "TUNNEL     STATE  LOCAL            NODE  REMOTE          IN      OUT    SINCE",
        "pod1/dcgm  down   127.0.0.1:40123  pod1  127.0.0.1:9400  1.2 MB  890 B  12:00:05",
        "    pod1: connection lost\\x1b[2J",  # the node's text never reaches the terminal raw
    ]
    out = io.StringIO()
    assert print_status(inventory, (spec,), as_json=True, out=out) == 1
    assert json.loads(out.getvalue())["tunnels"][0]["bytes_in"] == 1_234_567


def _local_inventory(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "here.yaml"
    path.write_text(
        "version: 1\nname: here\nnodes:\n  here: {transport: local}\ntunnels:\n"
        f"  echo: {{node: here, remote: '127.0.0.1:{port}', labels: {{job_hint: echo}}}}\n",
        encoding="utf-8",
    )
    return path


def _state(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8"))["tunnels"][0])
    except (OSError, ValueError):
        return {}


async def _until(what: str, condition: Callable[[], object], timeout: float = 10.0) -> None:
    """Poll `condition` (a file another task writes) until true, failing after `timeout` seconds."""
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{what}: not within {timeout:g}s")


async def test_up_keeps_the_files_refuses_a_second_and_stops_cleanly(tmp_path: Path) -> None:
    server, port = await _echo_server()
    inventory = load_inventory(_local_inventory(tmp_path, port))
    state, file_sd = state_path(inventory), tmp_path / "sd" / "targets.json"
    err, second_err = io.StringIO(), io.StringIO()
    running = asyncio.create_task(run_up(inventory, inventory.tunnels, file_sd, state, err=err))
    await _until("the tunnel up in the state file", lambda: _state(state).get("state") == "up")
    (group,) = json.loads(file_sd.read_text())
    assert group["labels"] == {
        "node": "here",
        "tunnel": "echo",
        "instance": f"here:{port}",
        "job_hint": "echo",
    }
    assert oct(file_sd.stat().st_mode & 0o777) == "0o644"
    # A second `up` for the same inventory is refused (its files and ports belong to the first).
    assert await run_up(inventory, inventory.tunnels, tmp_path / "other.json", state, err=second_err) == 3
    assert "already runs for this inventory" in second_err.getvalue()
    os.kill(os.getpid(), signal.SIGINT)  # Ctrl+C: the handler `up` installed ends it
    assert await asyncio.wait_for(running, 10) == 0
    assert err.getvalue() == ""  # silent while well, and on a clean stop
    assert not state.exists()
    server.close()


async def test_up_says_once_that_it_cannot_write_the_targets(tmp_path: Path) -> None:
    server, port = await _echo_server()
    inventory = load_inventory(_local_inventory(tmp_path, port))
    blocked = tmp_path / "a-file"
    blocked.write_text("", encoding="utf-8")
    state, err = state_path(inventory), io.StringIO()
    running = asyncio.create_task(run_up(inventory, inventory.tunnels, blocked / "t.json", state, err=err))
    await _until("the tunnel up in the state file", lambda: _state(state).get("state") == "up")
    # Traffic through the tunnel changes the state: `up` goes round again and tries the targets again.
    reader, writer = await asyncio.open_connection("127.0.0.1", int(_state(state)["local"].split(":")[1]))
    writer.write(b"x")
    await reader.readexactly(1)
    writer.close()
    await _until("the traffic in the state file", lambda: _state(state).get("bytes_out") == 1)
    os.kill(os.getpid(), signal.SIGINT)
    assert await asyncio.wait_for(running, 10) == 0
    assert err.getvalue() == f"opsconsole: cannot write {blocked / 't.json'}: File exists\n"
    server.close()


def test_status_follows_node_and_group_selection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from console.cli import main

    monkeypatch.chdir(tmp_path)
    Path("split.yaml").write_text(
        "version: 1\nname: split\nnodes:\n"
        "  pod-1: {host: 203.0.113.11, groups: [a], gpus: {source: prometheus}}\n"
        "  pod-2: {host: 203.0.113.12, gpus: {source: prometheus, exporter_port: 9500}}\n",
        encoding="utf-8",
    )
    assert main(["-i", "split.yaml", "--node", "pod-2", "tunnels", "status"]) == 3
    assert capsys.readouterr().out.splitlines()[1:] == ["  pod-2/dcgm: pod-2 127.0.0.1:9500"]
    assert main(["-i", "split.yaml", "--group", "a", "tunnels", "status"]) == 3
    assert capsys.readouterr().out.splitlines()[1:] == ["  pod-1/dcgm: pod-1 127.0.0.1:9400"]
    assert main(["-i", "split.yaml", "--node", "nope", "tunnels", "status"]) == 3
    assert capsys.readouterr().err == "opsconsole: unknown node nope (inventory has: pod-1, pod-2)\n"
