"""Command line: the TUI by default, `--check` headless, `inventory check` to validate a file."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from console import __version__
from console.checks.model import CheckReport
from console.checks.render import render_json, render_text
from console.checks.runner import run_checks
from console.fleet import LiveSource
from console.inventory import Inventory, InventoryError, load_inventory, locate_inventory

EXIT_UNKNOWN = 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="opsconsole",
        description="Keyboard-driven operations console for small GPU fleets (TUI; headless with --check).",
    )
    parser.add_argument("--version", action="version", version=f"opsconsole {__version__}")
    parser.add_argument(
        "-i",
        "--inventory",
        metavar="PATH",
        help="inventory YAML (default: $OPSCONSOLE_INVENTORY, "
        "$XDG_CONFIG_HOME/opsconsole/inventory.yaml, then the bundled local inventory)",
    )
    parser.add_argument("--check", action="store_true", help="run the checks once, print, exit 0/1/2/3")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="--check output format")
    parser.add_argument(
        "--timeout", type=float, default=60.0, metavar="SECONDS", help="--check ends by then (default 60)"
    )
    parser.add_argument(
        "--node", action="append", default=[], metavar="NAME", help="only this node (repeatable)"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for internal errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    inventory = commands.add_parser("inventory", help="inventory tools")
    inventory_commands = inventory.add_subparsers(dest="inventory_command", metavar="ACTION", required=True)
    check = inventory_commands.add_parser("check", help="validate an inventory file and print its problems")
    check.add_argument("path", metavar="PATH")
    return parser


def _print_inventory_error(error: InventoryError) -> None:
    for problem in error.errors or (error,):
        print(f"opsconsole: {problem}", file=sys.stderr)


def _inventory_check(path: str) -> int:
    try:
        inventory = load_inventory(path)
    except InventoryError as error:
        _print_inventory_error(error)
        return 1
    groups = ", ".join(inventory.groups) or "none"
    print(f"{path}: ok: inventory {inventory.name!r}, {len(inventory.nodes)} nodes, groups: {groups}")
    return 0


def _selected_nodes(inventory: Inventory, names: Sequence[str]) -> tuple[Inventory, tuple[str, ...]]:
    unknown = [name for name in names if name not in {node.name for node in inventory.nodes}]
    if unknown:
        known = ", ".join(node.name for node in inventory.nodes)
        raise SystemExit(f"opsconsole: unknown node {', '.join(unknown)} (inventory has: {known})")
    return inventory, tuple(names)


async def _check(inventory: Inventory, node_names: tuple[str, ...], timeout: float) -> CheckReport:
    nodes = tuple(node for node in inventory.nodes if not node_names or node.name in node_names)
    source = LiveSource(inventory, nodes)
    try:
        return await run_checks(inventory, source, nodes=nodes, timeout=timeout)
    finally:
        # Closing politely must not stretch the run past its deadline.
        await asyncio.wait([asyncio.create_task(source.close())], timeout=1.0)


def _run_check_mode(inventory: Inventory, args: argparse.Namespace) -> int:
    _, names = _selected_nodes(inventory, args.node)
    report = asyncio.run(_check(inventory, names, args.timeout))
    if args.format == "json":
        print(render_json(report))
    else:
        color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        print(render_text(report, color=color))
    return report.exit_code


def _run_tui(inventory: Inventory, args: argparse.Namespace) -> int:
    _, names = _selected_nodes(inventory, args.node)
    from screens.app import run_app  # the TUI is the only part that needs textual

    return run_app(inventory, node_names=names)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "inventory":
            return _inventory_check(args.path)
        inventory = load_inventory(locate_inventory(args.inventory))
        if args.check:
            return _run_check_mode(inventory, args)
        return _run_tui(inventory, args)
    except InventoryError as error:
        _print_inventory_error(error)
        return EXIT_UNKNOWN
    except SystemExit as stop:
        if isinstance(stop.code, str):
            print(stop.code, file=sys.stderr)
            return EXIT_UNKNOWN
        raise
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        if args.debug:
            raise
        print(f"opsconsole: internal error: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_UNKNOWN
