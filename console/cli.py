"""Command line: the TUI by default, `--check` headless, `inventory check|list|init`, the wizards.

Starts fast: this module imports only argparse at load time. Each command imports what it needs when it
runs (the checks pull in asyncssh and aiodocker, the TUI textual), so `--version`, `--help` and
`inventory check` never pay for them (`bench/cli_start.py` measures it).

Exit codes: `--check` follows the Nagios plugin convention, 0 ok, 1 warning, 2 critical, 3 unknown, and a
command line it cannot run (a bad `--timeout`, a selection of nothing, an `--output` it cannot write, an
invalid inventory) is 3, unknown, with one line on stderr. Without `--check`, argparse's usage errors exit 2.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn, cast

from console import __version__

# --check --timeout counts from here: this module is imported first and imports almost nothing itself.
PROCESS_STARTED = time.monotonic()

if TYPE_CHECKING:
    from console.inventory import Inventory, InventoryError

EXIT_UNKNOWN = 3
FORMATS = ("text", "json", "nagios", "prometheus")  # console.checkmode.FORMATS (a test keeps them equal)
# The wizard subcommands (console.wizards.cli.WIZARD_COMMANDS): their parser is built only when one is named.
WIZARD_COMMANDS = frozenset({"wizard", "fix", "troubleshoot", "tunnel"})
_WIZARD_STUBS = (
    ("wizard", (), "guided procedures on a node (plan, dry-run, confirm, verify)"),
    ("fix", ("troubleshoot",), "detect and fix a known failure"),
    ("tunnel", (), "forward a local port to a node's localhost-only service"),
)


class _Parser(argparse.ArgumentParser):
    """argparse, except that with --check a usage error is UNKNOWN (3), as a Nagios plugin's must be."""

    check_mode = False

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_UNKNOWN if self.check_mode else 2, f"{self.prog}: error: {message}\n")


def positive_seconds(text: str) -> float:
    """--timeout: a positive, finite number of seconds (`nan`, `inf`, `0`, `-1` are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive, finite number of seconds, got {text!r}")
    return value


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The whole command line; the wizards' own arguments are added only when `argv` names a wizard."""
    parser = _Parser(
        prog="opsconsole",
        description="Keyboard-driven operations console for small GPU fleets (TUI; headless with --check).",
    )
    parser.check_mode = "--check" in argv
    parser.add_argument("--version", action="version", version=f"opsconsole {__version__}")
    parser.add_argument(
        "-i",
        "--inventory",
        metavar="PATH|NAME",
        help="inventory YAML, or the name of a bundled example (see `inventory list`); default: "
        "$OPSCONSOLE_INVENTORY, $XDG_CONFIG_HOME/opsconsole/inventory.yaml, then the bundled `local`",
    )
    parser.add_argument("--check", action="store_true", help="run the checks once, print, exit 0/1/2/3")
    parser.add_argument("--format", choices=FORMATS, default="text", help="--check output format")
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=60.0,
        metavar="SECONDS",
        help="--check ends by then (default 60)",
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
    parser.add_argument(
        "--demo",
        action="store_true",
        help="the TUI on a recorded eight-node fleet: no SSH, no inventory (with --screenshot: its SVG)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for internal errors")
    commands = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", metavar="COMMAND"),
    )
    _add_inventory_commands(commands)
    if WIZARD_COMMANDS & set(argv):
        from console.wizards.cli import add_wizard_commands

        add_wizard_commands(commands)
    else:
        for name, aliases, text in _WIZARD_STUBS:
            commands.add_parser(name, aliases=list(aliases), help=text)
    from console.tunnels_cli import add_tunnels_command  # standard library only at import

    add_tunnels_command(commands)
    return parser


def _add_inventory_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    inventory = commands.add_parser("inventory", help="inventory tools: check, list, init")
    actions = inventory.add_subparsers(dest="inventory_command", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check", help="validate an inventory and print its problems (default: the one -i or the lookup picks)"
    )
    check.add_argument("path", metavar="PATH|NAME", nargs="?")
    actions.add_parser("list", help="the bundled example inventories, and which file the lookup picks now")
    init = actions.add_parser(
        "init", help="copy a bundled example to $XDG_CONFIG_HOME/opsconsole/inventory.yaml (or PATH) to edit"
    )
    init.add_argument("name", metavar="NAME", nargs="?", help="a bundled example (default: local)")
    init.add_argument("dest", metavar="PATH", nargs="?", help="where to write it")
    init.add_argument("--force", action="store_true", help="overwrite PATH if it exists")


def _print_inventory_error(error: InventoryError) -> None:
    for problem in error.errors or (error,):
        print(f"opsconsole: {problem}", file=sys.stderr)


def _run_tui(inventory: Inventory, args: argparse.Namespace) -> int:
    from console.checkmode import select_nodes

    nodes = select_nodes(inventory, args.node, args.group)
    from screens.app import run_app  # the TUI is the only part that needs textual

    return run_app(inventory, node_names=tuple(node.name for node in nodes), screenshot=args.screenshot)


def _run_demo(args: argparse.Namespace) -> int:
    from console.checkmode import select_nodes
    from screens.demo import demo_fleet, run_demo

    fleet = demo_fleet()
    nodes = select_nodes(fleet.inventory, args.node, args.group)
    return run_demo(fleet, node_names=tuple(node.name for node in nodes), screenshot=args.screenshot)


def _dispatch(args: argparse.Namespace) -> int:
    from console.inventory import load_inventory, locate_inventory

    if args.command == "inventory":
        from console.inventory.commands import run_inventory_command

        return run_inventory_command(args)
    if args.demo:
        from console.checkmode import SelectionError

        try:
            return _run_demo(args)
        except SelectionError as error:
            print(f"opsconsole: {error}", file=sys.stderr)
            return EXIT_UNKNOWN
    inventory = load_inventory(locate_inventory(args.inventory))
    if args.command == "tunnels":
        from console.tunnels_cli import run_tunnels_command

        return run_tunnels_command(args, inventory)
    if args.command in WIZARD_COMMANDS:
        from console.wizards.cli import run_wizard_command

        return run_wizard_command(args, inventory)
    if args.check:
        from console.checks.cli import run_check_command

        return run_check_command(inventory, args)
    from console.checkmode import SelectionError

    try:
        return _run_tui(inventory, args)
    except SelectionError as error:
        print(f"opsconsole: {error}", file=sys.stderr)
        return EXIT_UNKNOWN


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(arguments)
    args = parser.parse_args(arguments)
    if args.demo and (args.check or args.command or args.inventory):
        parser.error("--demo is the TUI on a recorded fleet: it takes no --check, -i or command")
    if argv is None:  # a real process: its --timeout counts from its start (see PROCESS_STARTED)
        args.started = PROCESS_STARTED
    from console.inventory import InventoryError

    try:
        return _dispatch(args)
    except InventoryError as error:
        _print_inventory_error(error)
        return EXIT_UNKNOWN
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        if args.debug:
            raise
        from console.text import clean_line  # an exception's text may quote a node

        print(f"opsconsole: internal error: {type(error).__name__}: {clean_line(error)}", file=sys.stderr)
        return EXIT_UNKNOWN
