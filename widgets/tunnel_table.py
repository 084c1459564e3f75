"""The tunnels screen's table: per tunnel its state, local address, node and remote end, bytes each way,
since when, and the last error. Render only: the views come from the tunnel service (console.model.tunnels),
keyed by tunnel name."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from rich.text import Text

from console.model.tunnels import TunnelView
from widgets.keyed_table import Column, KeyedTable
from widgets.status import DASH

STATE_STYLE = {"up": "bold green", "connecting": "yellow", "down": "bold red", "closed": "dim"}
STATE_ICON = {"up": "●", "connecting": "◌", "down": "✖", "closed": "○"}


def size(count: int) -> Text:
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            shown = f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
            return Text(shown, justify="right")
        value /= 1000
    return Text(f"{value:.1f} GB", justify="right")  # pragma: no cover - the loop returns


def age(since: datetime, now: datetime) -> Text:
    seconds = max(0, int((now - since).total_seconds()))
    if seconds < 60:
        shown = f"{seconds}s"
    elif seconds < 3600:
        shown = f"{seconds // 60}m{seconds % 60:02d}s"
    elif seconds < 86400:
        shown = f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    else:
        shown = f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"
    return Text(shown, justify="right", style="dim")


def tunnel_cells(view: TunnelView, now: datetime) -> dict[str, Text]:
    spec = view.spec
    state = Text(f"{STATE_ICON[view.state]} {view.state}", style=STATE_STYLE[view.state])
    scraped = Text("scraped", style="cyan") if spec.scrape else Text("")
    error = Text(view.last_error, style="magenta") if view.last_error and view.state != "up" else Text("")
    return {
        "state": state,
        "name": Text(spec.name, style="bold"),
        "local": Text(view.local_address) if view.local_address else DASH,
        "node": Text(spec.node),
        "remote": Text(spec.remote),
        "in": size(view.bytes_in),
        "out": size(view.bytes_out),
        "since": age(view.since, now),
        "scrape": scraped,
        "error": error,
    }


class TunnelTable(KeyedTable):
    COLUMNS: tuple[Column, ...] = (
        Column("state", "State", 12, 0, keep=True),
        Column("name", "Tunnel", 12, 0, keep=True),
        Column("local", "Local", 15, 0),
        Column("node", "Node", 8, 1),
        Column("remote", "Remote", 14, 3),
        Column("in", "In", 8, 2),
        Column("out", "Out", 8, 2),
        Column("since", "Since", 6, 3),
        Column("scrape", "Scrape", 7, 4),  # "scraped": Prometheus reads its target through this tunnel
        Column("error", "Last error", 12, 1, flex=True),
    )

    def show(self, views: Iterable[TunnelView], now: datetime) -> None:
        self.sync({view.spec.name: tunnel_cells(view, now) for view in views})
