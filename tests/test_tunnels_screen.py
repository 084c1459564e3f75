"""The tunnels screen: snapshots on recorded tunnel views (every state, an error from a node with an escape
sequence in it), T from the fleet and the palette, and o/x opening and closing a real tunnel over a local
node's transport."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from textual.pilot import Pilot

from console.demo.fleet import recorded_fleet
from console.demo.sources import RecordedSource
from console.inventory.loader import load_inventory
from console.model.tunnels import TunnelSpec, TunnelView
from console.session import ConsoleSession
from console.transport.local import LocalTransport
from screens.app import OpsConsoleApp
from screens.tunnels import TunnelsScreen
from widgets.tunnel_table import TunnelTable

NARROW, WIDE = (80, 24), (160, 48)
NOW = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)


def _views() -> tuple[TunnelView, ...]:
    dcgm = TunnelSpec("pod-1/dcgm", "pod-1", "127.0.0.1", 9400, origin="gpus")
    return (
        TunnelView(
            TunnelSpec("head-dcgm", "head-pod", "127.0.0.1", 9400, 19400, (("pod", "head"),)),
            "up", NOW - timedelta(hours=3, minutes=12), 19400, None, 48_213_992, 1_204_330, 1,
        ),
        TunnelView(dcgm, "up", NOW - timedelta(minutes=4, seconds=2), 41873, None, 2_113_540, 88_201),
        TunnelView(
            TunnelSpec("pod-2/dcgm", "pod-2", "127.0.0.1", 9400, origin="gpus"),
            "connecting", NOW - timedelta(seconds=7), 41874, "pod-2: connection lost", 9_112_004, 301_118,
        ),
        TunnelView(
            TunnelSpec("pod-3/dcgm", "pod-3", "127.0.0.1", 9400, origin="gpus"),
            "down", NOW - timedelta(minutes=21), 41875,
            "pod-3: 127.0.0.1:9400 did not answer: open failed: Connection refused\x1b[31m",
        ),
        TunnelView(
            TunnelSpec("pod-1/jupyter", "pod-1", "127.0.0.1", 8888, scrape=False, origin="services"),
            "closed", NOW - timedelta(days=1, hours=2),
        ),
    )  # fmt: skip


class RecordedBoard:
    """The views above; open and close move a tunnel's state as the service would, at once."""

    def __init__(self) -> None:
        self.by_name = {view.spec.name: view for view in _views()}

    def views(self) -> tuple[TunnelView, ...]:
        return tuple(self.by_name.values())

    async def open(self, name: str) -> TunnelView:
        view = self.by_name[name]
        self.by_name[name] = replace(view, state="up", local_port=view.local_port or 41999, since=NOW)
        return self.by_name[name]

    async def close(self, name: str) -> TunnelView:
        self.by_name[name] = replace(self.by_name[name], state="closed", local_port=None, since=NOW)
        return self.by_name[name]


async def _recorded(pilot: Pilot[None]) -> None:
    await pilot.app.settled()
    await pilot.app.push_screen(TunnelsScreen(board=RecordedBoard(), clock=lambda: NOW))
    await pilot.pause()
    await pilot.press("down", "down", "down")  # the cursor on the down tunnel: its error below
    await pilot.pause()


@pytest.mark.parametrize("size", [NARROW, WIDE], ids=["80x24", "160x48"])
def test_tunnels_view(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    app = OpsConsoleApp(recorded_fleet().session(), cursor_blink=False, batch_window_s=0)
    assert snap_compare(app, terminal_size=size, run_before=_recorded)


async def test_recorded_rows_and_keys() -> None:
    app = OpsConsoleApp(recorded_fleet().session(), cursor_blink=False, batch_window_s=0)
    async with app.run_test(size=WIDE) as pilot:
        await _recorded(pilot)
        table = pilot.app.screen.query_one(TunnelTable)
        down = table.cells("pod-3/dcgm")
        assert (down["state"].plain, down["local"].plain, down["since"].plain) == (
            "✖ down",
            "127.0.0.1:41875",
            "21m00s",
        )
        assert down["error"].plain.endswith("Connection refused\\x1b[31m")  # the node's escape, made visible
        up = table.cells("head-dcgm")
        assert (up["in"].plain, up["out"].plain, up["since"].plain) == ("48.2 MB", "1.2 MB", "3h12m")
        assert table.cells("pod-1/jupyter")["local"].plain == "–"
        await pilot.press("x")
        await pilot.app.settled()
        await pilot.pause()
        assert table.cells("pod-3/dcgm")["state"].plain == "○ closed"
        await pilot.press("o")
        await pilot.app.settled()
        await pilot.pause()
        assert table.cells("pod-3/dcgm")["state"].plain == "● up"


async def _echo() -> tuple[asyncio.Server, int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _echo_app(tmp_path: Path) -> tuple[asyncio.Server, OpsConsoleApp]:
    """The console on a local node whose inventory plans one tunnel, `echo`, to a real echo server."""
    server, port = await _echo()
    inventory_path = tmp_path / "here.yaml"
    inventory_path.write_text(
        f"version: 1\nname: here\nnodes:\n  here: {{transport: local}}\n"
        f"tunnels:\n  echo: {{node: here, remote: '127.0.0.1:{port}'}}\n",
        encoding="utf-8",
    )
    inventory = load_inventory(inventory_path)
    session = ConsoleSession(inventory, RecordedSource({}), transports={"here": LocalTransport("here")})
    return server, OpsConsoleApp(session, cursor_blink=False, batch_window_s=0)


async def test_t_opens_tunnels_and_o_x_open_and_close_a_real_one(tmp_path: Path) -> None:
    server, app = await _echo_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.app.settled()
        await pilot.press("T")
        await pilot.pause()
        screen = pilot.app.screen
        assert isinstance(screen, TunnelsScreen)
        table = screen.query_one(TunnelTable)
        assert table.cells("echo")["state"].plain == "○ closed"
        await pilot.press("o")
        async with asyncio.timeout(10):
            while table.cells("echo")["state"].plain != "● up":
                await pilot.pause(0.05)
        local = table.cells("echo")["local"].plain
        reader, writer = await asyncio.open_connection(*local.split(":"))
        writer.write(b"ping")
        assert await reader.readexactly(4) == b"ping"
        writer.close()
        await pilot.press("x")
        async with asyncio.timeout(10):
            while table.cells("echo")["state"].plain != "○ closed":
                await pilot.pause(0.05)
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(*local.split(":"))
        await pilot.press("escape")
        assert not isinstance(pilot.app.screen, TunnelsScreen)
    server.close()


async def test_palette_lists_tunnels() -> None:
    app = OpsConsoleApp(recorded_fleet().session(), cursor_blink=False, batch_window_s=0)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.app.settled()
        from screens.commands import ConsoleCommands

        provider = ConsoleCommands(pilot.app.screen, None)  # type: ignore[arg-type]
        names = [name for name, _, _ in provider._commands()]
        assert "Tunnels" in names
        assert "Tunnels (T)" in names


async def test_quitting_the_console_closes_its_tunnels(tmp_path: Path) -> None:
    server, app = await _echo_app(tmp_path)
    async with app.run_test(size=WIDE) as pilot:
        await pilot.app.settled()
        await pilot.press("T", "o")
        table = pilot.app.screen.query_one(TunnelTable)
        async with asyncio.timeout(10):
            while table.cells("echo")["state"].plain != "● up":
                await pilot.pause(0.05)
        local = table.cells("echo")["local"].plain
    # the app has exited: its listener is gone with it, not left to the process's end
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(*local.split(":"))
    server.close()
