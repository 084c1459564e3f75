"""Command line: the TUI by default, `--check` headless, `inventory check` to validate a file."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from console import __version__
from console.checkmode import FORMATS, CheckOptions, SelectionError, run_check_mode, select_nodes
from console.checks.lock import LockBusy
from console.inventory import Inventory, InventoryError, load_inventory, locate_inventory
from console.wizards.cli import WIZARD_COMMANDS, add_wizard_commands, run_wizard_command

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
    parser.add_argument("--format", choices=FORMATS, default="text", help="--check output format")
    parser.add_argument(
        "--timeout", type=float, default=60.0, metavar="SECONDS", help="--check ends by then (default 60)"
    )
    parser.add_argument(
        "--node", action="append", default=[], metavar="NAME", help="only this node (repeatable)"
    )
    parser.add_argument(
        "--group", action="append", default=[], metavar="GROUP", help="only nodes in this group (repeatable)"
    )
    parser.add_argument(
        "--only", action="append", default=[], metavar="PATTERN", help="only check ids matching this glob"
    )
    parser.add_argument(
        "--skip", action="append", default=[], metavar="PATTERN", help="drop check ids matching this glob"
    )
    parser.add_argument("--quiet", action="store_true", help="--check prints nothing when all is OK")
    parser.add_argument(
        "--output", metavar="FILE", help="write the --check report to FILE atomically (temp file + rename)"
    )
    parser.add_argument(
        "--wait-lock", action="store_true", help="wait (up to --timeout) for a running --check to finish"
    )
    parser.add_argument(
        "--screenshot",
        metavar="PATH",
        help="save an SVG of the fleet screen once every node answered, then exit (headless)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for internal errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    inventory = commands.add_parser("inventory", help="inventory tools")
    inventory_commands = inventory.add_subparsers(dest="inventory_command", metavar="ACTION", required=True)
    check = inventory_commands.add_parser("check", help="validate an inventory file and print its problems")
    check.add_argument("path", metavar="PATH")
    add_wizard_commands(commands)
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


def _check_options(args: argparse.Namespace) -> CheckOptions:
    return CheckOptions(
        format=args.format,
        timeout=args.timeout,
        nodes=tuple(args.node),
        groups=tuple(args.group),
        only=tuple(args.only),
        skip=tuple(args.skip),
        quiet=args.quiet,
        output=args.output,
        wait_lock=args.wait_lock,
    )


def _run_tui(inventory: Inventory, args: argparse.Namespace) -> int:
    nodes = select_nodes(inventory, args.node, args.group)
    from screens.app import run_app  # the TUI is the only part that needs textual

    return run_app(inventory, node_names=tuple(node.name for node in nodes), screenshot=args.screenshot)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "inventory":
            return _inventory_check(args.path)
        inventory = load_inventory(locate_inventory(args.inventory))
        if args.command in WIZARD_COMMANDS:
            return run_wizard_command(args, inventory)
        if args.check:
            return run_check_mode(inventory, _check_options(args))
        return _run_tui(inventory, args)
    except InventoryError as error:
        _print_inventory_error(error)
        return EXIT_UNKNOWN
    except (SelectionError, LockBusy) as error:
        print(f"opsconsole: {error}", file=sys.stderr)
        return EXIT_UNKNOWN
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        if args.debug:
            raise
        print(f"opsconsole: internal error: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_UNKNOWN
