"""The wizards on the command line: `wizard bringup`, `fix NAME` (alias `troubleshoot NAME`) and `tunnel`.

    opsconsole wizard bringup --node NAME [--dry-run | --yes]
    opsconsole fix NAME --node NODE [--service S] [--container C] [--dry-run | --yes]
    opsconsole tunnel NODE SERVICE [--port N]

Exit codes: 0 verified (a dry run: nothing failed; a fix: nothing to fix, or fixed and detected no more),
1 a step failed or was not confirmed (the step is named), 2 usage (unknown node or service, no terminal to
confirm on without --yes). `console/cli.py` registers these with `add_wizard_commands` and hands the parsed
arguments to `run_wizard_command`; `python -m console.wizards.cli -i INVENTORY ...` runs them on their own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence
from typing import TextIO

from console.actions import AuditLog
from console.inventory import Inventory, InventoryError, load_inventory, locate_inventory
from console.inventory.model import Node, ServiceSpec
from console.poll import close_transports
from console.transport import TransportError, transports_for
from console.tunnels import TunnelError, TunnelRegistry
from console.wizards.bringup import bringup_wizard
from console.wizards.engine import Confirm, NodeContext, StepPlan, WizardReport, run_wizard
from console.wizards.fix_model import FixInput
from console.wizards.fixes import CATALOGUE, run_fix
from console.wizards.ops import StepError
from console.wizards.printer import EventPrinter, safe
from console.wizards.settings import AiStackSettings, stack_settings
from console.wizards.tunnel_target import (
    NotAnswering,
    UnknownService,
    base_spec,
    check_answers,
    resolve_target,
)

WIZARD_COMMANDS = frozenset({"wizard", "fix", "troubleshoot", "tunnel"})
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """An unknown node or service, or no way to confirm: exit 2 with the message."""


def add_wizard_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `wizard`, `fix`/`troubleshoot` and `tunnel` to a parser's subcommands."""
    wizard = commands.add_parser(
        "wizard", help="guided procedures on a node (plan, dry-run, confirm, verify)"
    )
    wizards = wizard.add_subparsers(dest="wizard_name", metavar="WIZARD", required=True)
    bringup = wizards.add_parser("bringup", help="bring up the AI stack (ComfyUI, Ollama, OpenWebUI)")
    bringup.add_argument("--node", dest="wizard_node", required=True, metavar="NAME")
    _modes(bringup)
    fix = commands.add_parser("fix", aliases=["troubleshoot"], help="detect and fix a known failure")
    fix.add_argument("fix_name", metavar="NAME", choices=sorted(CATALOGUE), help=", ".join(sorted(CATALOGUE)))
    fix.add_argument("--node", dest="wizard_node", required=True, metavar="NODE")
    fix.add_argument("--service", metavar="SERVICE", help="tls-mismatch, browser-tunnel (default: comfy)")
    fix.add_argument(
        "--container", metavar="NAME", help="restart-loop (default: the container that is restarting)"
    )
    _modes(fix)
    tunnel = commands.add_parser("tunnel", help="forward a local port to a node's localhost-only service")
    tunnel.add_argument("tunnel_node", metavar="NODE")
    tunnel.add_argument(
        "tunnel_service", metavar="SERVICE", help="an inventory service, comfy/ollama/openwebui, or a port"
    )
    tunnel.add_argument(
        "--port",
        dest="tunnel_port",
        type=_local_port,
        metavar="N",
        help="the port on this machine's 127.0.0.1 (default: a free one)",
    )


def _local_port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"not a port number (1-65535): {text!r}")
    return int(text)


def _modes(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="show the full plan, change nothing")
    mode.add_argument("--yes", action="store_true", help="apply every step without asking")


def resolve_service(node: Node, name: str, settings: AiStackSettings) -> ServiceSpec:
    """An inventory service by name, one of the stack's containers, or a bare port number."""
    try:
        return base_spec(node, name, settings)[0]
    except UnknownService as exc:
        raise UsageError(str(exc)) from None


def _node(inventory: Inventory, name: str) -> Node:
    try:
        return inventory.node(name)
    except KeyError:
        have = ", ".join(node.name for node in inventory.nodes)
        raise UsageError(f"unknown node {name} (inventory has: {have})") from None


def terminal_confirm(out: TextIO) -> Confirm:
    """Ask on the terminal, once per step: [y/N]."""

    async def confirm(plan: StepPlan) -> bool:
        out.write(f"      apply step {plan.step} ({plan.title})? [y/N] ")
        out.flush()
        answer = await asyncio.to_thread(sys.stdin.readline)
        return answer.strip().lower() in ("y", "yes")

    return confirm


def _confirmation(args: argparse.Namespace, out: TextIO, confirm: Confirm | None) -> Confirm | None:
    if args.yes or args.dry_run or confirm is not None:
        return confirm
    if not sys.stdin.isatty():
        raise UsageError("no terminal to confirm on: pass --yes to apply every step, or --dry-run to look")
    return terminal_confirm(out)


def _summary(report: WizardReport, out: TextIO) -> int:
    done = sum(step.state == "done" for step in report.steps)
    todo = sum(step.state == "todo" for step in report.steps)
    if report.dry_run:
        verdict = "ok" if report.ok else f"FAILED at {report.failed.title}" if report.failed else "FAILED"
        out.write(
            f"dry run of {report.wizard} on {report.node}: {todo} to do, {done} already done; "
            f"nothing was changed ({verdict})\n"
        )
        return EXIT_OK if report.ok else EXIT_FAILED
    if report.ok:
        out.write(
            f"{report.wizard} on {report.node}: verified ({done} already done, {report.changed} applied)\n"
        )
        return EXIT_OK
    failed = report.failed
    where = f"“{failed.title}”: {failed.summary}" if failed else "an unknown step"
    out.write(f"{report.wizard} on {report.node}: FAILED at {where}\n")
    return EXIT_FAILED


async def _bringup(
    args: argparse.Namespace,
    inventory: Inventory,
    settings: AiStackSettings | None,
    out: TextIO,
    confirm: Confirm | None,
) -> int:
    node = _node(inventory, args.wizard_node)
    wizard = bringup_wizard(settings or stack_settings(node))
    ask = _confirmation(args, out, confirm)
    transports = transports_for(inventory, (node,))
    printer = EventPrinter(out, wizard, dry_run=args.dry_run)
    try:
        ctx = NodeContext(transports[node.name], node, AuditLog(), emit=printer)
        printer.header(node.name)
        report = await run_wizard(wizard, ctx, dry_run=args.dry_run, yes=args.yes, confirm=ask)
    finally:
        await close_transports(transports)
    return _summary(report, out)


async def _hold(out: TextIO, tunnels: TunnelRegistry, notes: tuple[str, ...] = ()) -> None:
    for tunnel in tunnels.list():
        out.write(f"tunnel open: {tunnel.describe()}\n")
    out.writelines(f"  note: {note}\n" for note in notes)
    out.write("open the URL in a browser on this machine; Ctrl-C closes the tunnel\n")
    out.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()


def _report_failed_forward(message: str) -> None:
    safe(sys.stderr).write(f"opsconsole: tunnel: {message}\n")
    sys.stderr.flush()


async def _fix(
    args: argparse.Namespace,
    inventory: Inventory,
    settings: AiStackSettings | None,
    out: TextIO,
    confirm: Confirm | None,
    tunnels: TunnelRegistry,
) -> int:
    node = _node(inventory, args.wizard_node)
    stack = settings or stack_settings(node)
    service = resolve_service(node, args.service, stack) if args.service else None
    inp = FixInput(stack, service, args.container, inventory.path, node.groups, tunnels)
    ask = _confirmation(args, out, confirm)
    transports = transports_for(inventory, (node,))
    fix = CATALOGUE[args.fix_name]
    try:
        out.write(f"troubleshoot {fix.name} on {node.name}: {fix.title}\n  symptom: {fix.symptom}\n")
        out.write(f"  why: {fix.explanation}\n")
        ctx = NodeContext(transports[node.name], node, AuditLog())
        before = await CATALOGUE[args.fix_name].detect(ctx, inp)
        out.write(f"  found: {before.summary}\n" if before.found else f"  nothing to fix: {before.summary}\n")
        out.writelines(f"    | {line}\n" for line in before.details)
        if not before.found:
            return EXIT_OK
        wizard = fix.wizard(inp, before)
        ctx.emit = EventPrinter(out, wizard, dry_run=args.dry_run)
        run = await run_fix(
            args.fix_name, ctx, inp, dry_run=args.dry_run, yes=args.yes, confirm=ask, before=before
        )
        if run.report is None:
            out.write(f"  nothing to fix any more: {run.before.summary}\n")
            return EXIT_OK
        code = _summary(run.report, out)
        if run.after is not None:
            out.write(f"  detected again: {'STILL THERE: ' if run.after.found else ''}{run.after.summary}\n")
        if not run.ok:
            return EXIT_FAILED
        if tunnels.list() and not args.dry_run:
            await _hold(out, tunnels)
        return code
    finally:
        await close_transports(transports)


async def _tunnel(
    args: argparse.Namespace,
    inventory: Inventory,
    settings: AiStackSettings | None,
    out: TextIO,
    tunnels: TunnelRegistry,
) -> int:
    node = _node(inventory, args.tunnel_node)
    stack = settings or stack_settings(node)
    resolve_service(node, args.tunnel_service, stack)  # an unknown name is a usage error before connecting
    transports = transports_for(inventory, (node,))
    transport = transports[node.name]
    try:
        target = await resolve_target(transport, node, args.tunnel_service, stack)
        try:
            await check_answers(transport, node, target)
        except NotAnswering as exc:
            safe(sys.stderr).write(f"opsconsole: {node.name}: {exc}: no tunnel opened\n")
            return EXIT_FAILED
        try:
            await tunnels.open(
                transport,
                target.spec,
                local_port=getattr(args, "tunnel_port", None),
                remote_host=target.host,
                on_error=_report_failed_forward,
            )
        except TunnelError as exc:
            sys.stderr.write(f"opsconsole: {exc}\n")
            return EXIT_FAILED
        await _hold(out, tunnels, target.notes)
    finally:
        tunnels.forget(node.name)
        await close_transports(transports)
    return EXIT_OK


def run_wizard_command(
    args: argparse.Namespace,
    inventory: Inventory,
    *,
    settings: AiStackSettings | None = None,
    out: TextIO | None = None,
    confirm: Confirm | None = None,
    tunnels: TunnelRegistry | None = None,
) -> int:
    """Run a parsed `wizard`/`fix`/`troubleshoot`/`tunnel` command. `settings` overrides the node's ai_stack
    section; `confirm` replaces the terminal prompt."""
    stream = safe(out or sys.stdout)
    registry = tunnels or TunnelRegistry()
    try:
        if args.command == "wizard":
            return asyncio.run(_bringup(args, inventory, settings, stream, confirm))
        if args.command in ("fix", "troubleshoot"):
            return asyncio.run(_fix(args, inventory, settings, stream, confirm, registry))
        return asyncio.run(_tunnel(args, inventory, settings, stream, registry))
    except UsageError as error:
        safe(sys.stderr).write(f"opsconsole: {error}\n")
        return EXIT_USAGE
    except (StepError, TransportError) as error:
        safe(sys.stderr).write(f"opsconsole: {error}\n")
        return EXIT_FAILED
    except KeyboardInterrupt:
        stream.write("closed\n")
        return EXIT_OK if args.command == "tunnel" else 130


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m console.wizards.cli -i INVENTORY COMMAND ...` (until console/cli.py registers them)."""
    parser = argparse.ArgumentParser(prog="opsconsole")
    parser.add_argument("-i", "--inventory", metavar="PATH")
    add_wizard_commands(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    args = parser.parse_args(argv)
    try:
        inventory = load_inventory(locate_inventory(args.inventory))
    except InventoryError as error:
        sys.stderr.write(f"opsconsole: {error}\n")
        return 3
    return run_wizard_command(args, inventory)


if __name__ == "__main__":
    sys.exit(main())
