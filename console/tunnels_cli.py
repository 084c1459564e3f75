"""`opsconsole tunnels up|status`: keep the inventory's tunnels open; say how they stand.

`up` runs until Ctrl+C (SIGINT) or SIGTERM, silent while every tunnel is well: a tunnel that leaves `up`
and one that comes back are one line each on stderr (a service's journal). It keeps two files, each
replaced atomically: the state (`status` reads it; removed on a clean exit) and the Prometheus file_sd
targets, the local end of every open tunnel marked `scrape`, rewritten when that set changes. The targets
carry `instance` = NODE:REMOTE_PORT, so a free local port that changes between runs keeps the series.

Loads only argparse and the standard library until a command runs (`opsconsole --help` stays fast).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from console.model.inventory import Inventory
    from console.model.tunnels import TunnelSpec, TunnelView

STATE_EVERY_S = 1.0  # the state file's bytes and ages are at most this old
EXIT_NOT_UP, EXIT_NOT_RUNNING = 1, 3


def add_tunnels_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tunnels = commands.add_parser(
        "tunnels", help="keep the inventory's SSH tunnels open (up), show them (status)"
    )
    actions = tunnels.add_subparsers(dest="tunnels_command", metavar="ACTION", required=True)
    up = actions.add_parser("up", help="open every tunnel and keep it open until Ctrl+C or SIGTERM")
    up.add_argument(
        "--file-sd",
        metavar="PATH",
        help="the Prometheus file_sd JSON to keep "
        "(default: $XDG_STATE_HOME/opsconsole/tunnels/NAME.file_sd.json)",
    )
    status = actions.add_parser("status", help="how the tunnels of the running `tunnels up` stand")
    status.add_argument("--json", action="store_true", help="the state as JSON")


def _say(out: TextIO, text: str) -> None:
    out.write(text + "\n")
    out.flush()


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:100] or "inventory"


def state_path(inventory: Inventory) -> Path:
    from console.paths import state_dir

    return state_dir() / "tunnels" / f"{_slug(inventory.name)}.json"


def default_file_sd(inventory: Inventory) -> Path:
    from console.paths import state_dir

    return state_dir() / "tunnels" / f"{_slug(inventory.name)}.file_sd.json"


def file_sd_targets(views: tuple[TunnelView, ...]) -> list[dict[str, Any]]:
    """One target group per open, scraped tunnel: its local end, labelled with its node and name."""
    groups = []
    for view in sorted(views, key=lambda v: v.spec.name):
        if view.local_port is None or not view.spec.scrape:
            continue
        spec = view.spec
        labels = {"node": spec.node, "tunnel": spec.name, "instance": f"{spec.node}:{spec.remote_port}"}
        labels.update(dict(spec.labels))
        groups.append({"targets": [f"127.0.0.1:{view.local_port}"], "labels": labels})
    return groups


def view_json(view: TunnelView) -> dict[str, Any]:
    spec = view.spec
    return {
        "name": spec.name,
        "node": spec.node,
        "remote": spec.remote,
        "local": view.local_address,
        "state": view.state,
        "since": view.since.isoformat(timespec="seconds"),
        "last_error": view.last_error,
        "bytes_in": view.bytes_in,
        "bytes_out": view.bytes_out,
        "connections": view.connections,
        "scrape": spec.scrape,
        "origin": spec.origin,
    }


def _write_json(path: Path, value: Any) -> None:
    from console.atomic import write_atomically

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(value, indent=1, allow_nan=False) + "\n", mode=0o644)


def run_tunnels_command(args: argparse.Namespace, inventory: Inventory) -> int:
    from console.model.tunnels import planned_tunnels

    specs = planned_tunnels(inventory)
    if args.node or args.group:  # --node/--group: only those nodes' tunnels
        from console.checkmode import SelectionError, select_nodes

        try:
            chosen = {node.name for node in select_nodes(inventory, args.node, args.group)}
        except SelectionError as error:
            _say(sys.stderr, f"opsconsole: {error}")
            return EXIT_NOT_RUNNING
        specs = tuple(spec for spec in specs if spec.node in chosen)
    if args.tunnels_command == "status":
        return print_status(inventory, specs, as_json=args.json, out=sys.stdout)
    if not specs:
        _say(sys.stderr, f"opsconsole: inventory {inventory.name} plans no tunnel")
        return EXIT_NOT_RUNNING
    file_sd = Path(args.file_sd) if args.file_sd else default_file_sd(inventory)
    import asyncio

    return asyncio.run(run_up(inventory, specs, file_sd, state_path(inventory), err=sys.stderr))


class _Reporter:
    """One stderr line when a tunnel leaves `up` or comes back; nothing while all is well."""

    def __init__(self, err: TextIO) -> None:
        self.err = err
        self.was_up: set[str] = set()
        self.said: dict[str, str | None] = {}

    def __call__(self, view: TunnelView) -> None:
        name = view.spec.name
        if view.state == "up":
            if name in self.said:
                _say(self.err, f"opsconsole: tunnel {name} is up again")
                del self.said[name]
            self.was_up.add(name)
        elif (
            view.state in ("down", "connecting")
            and view.last_error
            and self.said.get(name) != view.last_error
        ):
            if view.state == "connecting" and name not in self.was_up:
                return  # still opening for the first time: not trouble yet
            _say(self.err, f"opsconsole: tunnel {name} {view.state}: {view.last_error}")
            self.said[name] = view.last_error


async def run_up(
    inventory: Inventory, specs: tuple[TunnelSpec, ...], file_sd: Path, state: Path, *, err: TextIO
) -> int:
    import asyncio
    import contextlib
    import signal

    from console.transport import transports_for
    from console.tunnels_service import TunnelService

    lock = _lock(state.with_suffix(".lock"))
    if isinstance(lock, str):
        _say(err, f"opsconsole: {lock}")
        return EXIT_NOT_RUNNING
    wanted = {spec.node for spec in specs}
    transports = transports_for(inventory, tuple(node for node in inventory.nodes if node.name in wanted))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    service = TunnelService(specs, transports, on_change=_Reporter(err))
    writer = _Writer(err)
    written_sd: list[dict[str, Any]] | None = None
    written_state: list[dict[str, Any]] | None = None
    try:
        await service.start()
        while not stop.is_set():
            service.changed.clear()
            views = service.views()
            targets = file_sd_targets(views)
            if targets != written_sd and writer.write(file_sd, targets):
                written_sd = targets
            rows = [view_json(view) for view in views]
            if rows != written_state:
                document = {
                    "pid": os.getpid(),
                    "inventory": inventory.path,
                    "file_sd": str(file_sd),
                    "updated": datetime.now(UTC).isoformat(timespec="seconds"),
                    "tunnels": rows,
                }
                if writer.write(state, document):
                    written_state = rows
            waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(service.changed.wait())}
            await asyncio.wait(waits, timeout=STATE_EVERY_S, return_when=asyncio.FIRST_COMPLETED)
            for task in waits:
                task.cancel()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await service.aclose()
        await asyncio.gather(*(t.close() for t in transports.values()), return_exceptions=True)
        with contextlib.suppress(OSError):
            os.unlink(state)
        os.close(lock)
    return 0


def _lock(path: Path) -> int | str:
    """An exclusive lock for this inventory's `up` (held until the process ends), or why there is none."""
    import fcntl

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        return f"cannot open {path}: {exc.strerror or exc}"
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return f"`tunnels up` already runs for this inventory (lock {path})"
    return fd


class _Writer:
    """Writes a JSON file atomically; a failure is said once (until it changes) and retried next time."""

    def __init__(self, err: TextIO) -> None:
        self.err = err
        self.said: dict[Path, str] = {}

    def write(self, path: Path, value: Any) -> bool:
        try:
            _write_json(path, value)
        except OSError as exc:
            why = f"cannot write {path}: {exc.strerror or exc}"
            if self.said.get(path) != why:
                _say(self.err, f"opsconsole: {why}")
                self.said[path] = why
            return False
        self.said.pop(path, None)
        return True


def _running(document: dict[str, Any]) -> bool:
    pid = document.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _size(count: object) -> str:
    value = float(count) if isinstance(count, int) else 0.0
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def read_state(inventory: Inventory) -> dict[str, Any] | None:
    """The running `tunnels up`'s state, or None when none runs for this inventory."""
    try:
        document = json.loads(state_path(inventory).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) and _running(document) else None


def print_status(inventory: Inventory, specs: tuple[TunnelSpec, ...], *, as_json: bool, out: TextIO) -> int:
    """The tunnels as the running `up` sees them: exit 0 all up, 1 some not, 3 no `up` running."""
    from console.text import clean_line

    document = read_state(inventory)
    names = {spec.name for spec in specs}
    rows = [row for row in (document or {}).get("tunnels", []) if row.get("name") in names]
    if as_json:
        _say(out, json.dumps({"running": document is not None, "tunnels": rows}, indent=1))
    elif document is None:
        _say(out, f"no `opsconsole tunnels up` is running for inventory {clean_line(inventory.name)}")
        for spec in specs:
            _say(out, f"  {spec.name}: {spec.node} {spec.remote}")
    else:
        header = ("TUNNEL", "STATE", "LOCAL", "NODE", "REMOTE", "IN", "OUT", "SINCE")
        table = [header]
        for row in rows:
            since = str(row.get("since", ""))[11:19]
            local = row.get("local") or "-"
            table.append(
                (row["name"], row["state"], local, row["node"], row["remote"], _size(row.get("bytes_in")),
                 _size(row.get("bytes_out")), since)
            )  # fmt: skip
        widths = [max(len(clean_line(cell)) for cell in column) for column in zip(*table, strict=True)]
        for index, line in enumerate(table):
            cells = (clean_line(c).ljust(w) for c, w in zip(line, widths, strict=True))
            _say(out, "  ".join(cells).rstrip())
            error = rows[index - 1].get("last_error") if index else None
            if error and rows[index - 1].get("state") != "up":
                _say(out, f"    {clean_line(error)}")
    if document is None:
        return EXIT_NOT_RUNNING
    return 0 if rows and all(row.get("state") == "up" for row in rows) else EXIT_NOT_UP
