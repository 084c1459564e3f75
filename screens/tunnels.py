"""Tunnels (T from the fleet, and the palette): every tunnel the inventory plans (its `tunnels:` entries, each
pod's GPU exporter, each service), with state, local address, bytes each way, since when and the last error;
`o` opens the one under the cursor, `x` closes it.

The tunnels ride the console's own node connections (the session's transports) through one TunnelService
kept per app, so a tunnel opened here stays open while other screens show, until the console exits. Opening
one binds a port on this machine's 127.0.0.1 and opens a channel on the node's existing SSH connection; it
changes nothing on the node, so it is not confirmed (closing one likewise). The screen redraws once a second
(bytes, ages) and at once on a state change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol
from weakref import WeakKeyDictionary

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, Static

from console.model.tunnels import TunnelView, planned_tunnels
from console.tunnels_cli import read_state
from console.tunnels_service import TunnelService
from screens.base import ConsoleScreen
from widgets.safe import safe_text
from widgets.tunnel_table import STATE_STYLE, TunnelTable

if TYPE_CHECKING:
    from screens.app import OpsConsoleApp

REDRAW_S = 1.0
PRIVACY = "local ends listen on 127.0.0.1: any user of this machine can connect to them"


class TunnelBoard(Protocol):
    """What the screen needs of the tunnels: TunnelService, or recorded views in the snapshot tests."""

    def views(self) -> tuple[TunnelView, ...]: ...

    async def open(self, name: str) -> TunnelView: ...

    async def close(self, name: str) -> TunnelView: ...


# One service per app, kept beside it (not on it: the app's module knows nothing of tunnels).
_services: WeakKeyDictionary[OpsConsoleApp, TunnelService] = WeakKeyDictionary()


def tunnel_service(app: OpsConsoleApp) -> TunnelService:
    """The app's one tunnel service over its session's transports (made when first asked)."""
    service = _services.get(app)
    if service is None:
        specs = planned_tunnels(app.inventory)
        service = TunnelService(specs, app.session.transports, on_change=lambda view: _changed(app))
        _services[app] = service
        app.closers.append(service.aclose)  # listeners closed before the session's connections
    return service


def _changed(app: OpsConsoleApp) -> None:
    # Called from the service's tasks: the app may be closing, with no screen left to show anything.
    screen = app.screen_stack[-1] if app.is_running and app.screen_stack else None
    if isinstance(screen, TunnelsScreen) and screen.is_mounted:
        screen.show_tunnels()


class TunnelsScreen(ConsoleScreen):
    CSS_PATH = "tunnels.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("o", "open_tunnel", "Open", tooltip="Listen on 127.0.0.1 and carry to the node"),
        Binding("x", "close_tunnel", "Close", tooltip="Stop listening; the node's connection stays"),
    ]

    def __init__(
        self, *, board: TunnelBoard | None = None, clock: Callable[[], datetime] | None = None
    ) -> None:
        super().__init__()
        self._board = board
        self._clock = clock or (lambda: datetime.now(UTC))
        self._service_running: str | None = None

    @property
    def board(self) -> TunnelBoard:
        if self._board is None:
            self._board = tunnel_service(self.ops_app)
        return self._board

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="tunnels-summary")
        yield TunnelTable(id="tunnel-table")
        yield Static(id="tunnels-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "SSH tunnels: local ends on 127.0.0.1, carried over the nodes' connections"
        running = read_state(self.ops_app.inventory) if self._board is None else None
        if running is not None:
            self._service_running = (
                f"`opsconsole tunnels up` runs (pid {running.get('pid')}): its ports are taken"
            )
        self.query_one(TunnelTable).focus()
        self.show_tunnels()
        self.set_interval(REDRAW_S, self.show_tunnels, name="tunnels-redraw")

    def catch_up(self) -> None:
        self.show_tunnels()

    def show_status(self) -> None:
        self.show_tunnels()

    def show_tunnels(self) -> None:
        views = self.board.views()
        self.query_one(TunnelTable).show(views, self._clock())
        self.set_text("#tunnels-summary", self._summary(views))
        self._show_detail(views)

    def _summary(self, views: Sequence[TunnelView]) -> Text:
        if not views:
            return Text(
                "no tunnels in this inventory (tunnels:, gpus: {source: prometheus}, services)", "dim"
            )
        parts = [Text(f"{len(views)} tunnel{'s' if len(views) != 1 else ''}", style="bold")]
        for state in ("up", "connecting", "down", "closed"):
            count = sum(view.state == state for view in views)
            if count:
                parts.append(Text(f"{count} {state}", style=STATE_STYLE[state]))
        if self._service_running:
            parts.append(Text(self._service_running, style="yellow"))
        return Text("  ·  ").join(parts)

    def _show_detail(self, views: Sequence[TunnelView]) -> None:
        key = self.query_one(TunnelTable).cursor_key
        view = next((view for view in views if view.spec.name == key), None)
        if view is None:
            self.set_text("#tunnels-detail", Text(PRIVACY, style="dim"))
            return
        spec = view.spec
        local = view.local_address or "127.0.0.1:" + (
            str(spec.local_port) if spec.local_port else "(a free port)"
        )
        line = Text.assemble(
            (local, "bold"), " → ", spec.node, " ", spec.remote, (f"   from {spec.origin}", "dim")
        )
        if spec.labels:
            line.append("   " + ", ".join(f"{k}={v}" for k, v in spec.labels), style="cyan")
        lines = [line]
        if view.last_error and view.state != "up":
            lines.append(Text(view.last_error, style="magenta"))
        lines.append(Text(PRIVACY, style="dim"))
        self.set_text("#tunnels-detail", Text("\n").join(lines))

    def on_data_table_row_highlighted(self, _event: object) -> None:
        self._show_detail(self.board.views())

    def action_back(self) -> None:
        self.dismiss()

    def action_open_tunnel(self) -> None:
        key = self.query_one(TunnelTable).cursor_key
        if key is not None:
            self._act(key, opening=True)

    def action_close_tunnel(self) -> None:
        key = self.query_one(TunnelTable).cursor_key
        if key is not None:
            self._act(key, opening=False)

    @work(group="tunnels-act", exit_on_error=False)
    async def _act(self, name: str, *, opening: bool) -> None:
        view = await (self.board.open(name) if opening else self.board.close(name))
        self.show_tunnels()
        if opening and view.state == "down" and view.last_error:
            said = safe_text(Text(view.last_error)).plain
            self.notify(said, title=f"tunnel {name}", severity="warning", markup=False)


def open_tunnels(app: OpsConsoleApp) -> None:
    """The tunnels screen over the fleet screen (`T` there, and the palette)."""
    app.action_open_fleet()
    app.push_screen(TunnelsScreen())
