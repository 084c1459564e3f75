"""`opsconsole --check` from the command line: refuse what cannot work before any check runs, then run.

Everything here is decided from the inventory and the arguments alone: a selection that selects nothing, or
an `--output` whose directory is missing, exits 3 at once (naming what the user gave) instead of after a
full run, and never as a traceback.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from console.checkmode import CheckOptions, SelectionError, run_check_mode, select_nodes
from console.checks.fleet_checks import FLEET, discovered_node
from console.checks.lock import LockError
from console.checks.monitoring_rules import planned_monitoring
from console.checks.prom_fleet_rules import PROM_NODE_CHECKS
from console.checks.prometheus_rules import planned_prometheus
from console.checks.report_monitoring import OutputError
from console.checks.rules import planned_checks
from console.inventory.model import Inventory, Node
from console.text import clean_line

EXIT_UNKNOWN = 3


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")


# Check ids a node may report beyond its planned ones (which depend on what the node answers).
_UNPLANNED = {"docker": ("container.health", "container.restarts"), "mounts": ("nfs.mounted",)}


def check_wanted(check: str, only: Sequence[str], skip: Sequence[str]) -> bool:
    """--only/--skip are globs on check ids (`gpu.*`, `nfs.responsive`): the same rule as filter_results."""
    if only and not any(fnmatch.fnmatchcase(check, pattern) for pattern in only):
        return False
    return not any(fnmatch.fnmatchcase(check, pattern) for pattern in skip)


def possible_checks(inventory: Inventory, nodes: Sequence[Node]) -> tuple[str, ...]:
    """Every check id the run could report for these nodes (and the fleet's Prometheus), in order."""
    ids: dict[str, None] = {}
    for node in nodes:
        ids.update(dict.fromkeys(check for check, _ in planned_checks(node)))
        if node.docker is not None:
            ids.update(dict.fromkeys(_UNPLANNED["docker"]))
        if node.mounts:
            ids.update(dict.fromkeys(_UNPLANNED["mounts"]))
    ids.update(dict.fromkeys(check for check, _ in planned_prometheus(inventory)))
    ids.update(dict.fromkeys(check for check, _ in planned_monitoring(inventory)))
    if inventory.fleet.source == "prometheus":  # and what nodes found in the series can report
        ids.update(dict.fromkeys((FLEET, *PROM_NODE_CHECKS)))
        ids.update(dict.fromkeys(check for check, _ in planned_checks(discovered_node("-"))))
    return tuple(ids)


def selection_problem(inventory: Inventory, options: CheckOptions) -> str | None:
    """Why this selection would run no check at all, or None. Unknown names raise SelectionError."""
    nodes = select_nodes(inventory, options.nodes, options.groups)
    if not nodes and (options.nodes or options.groups):
        given = [f"--node {name}" for name in options.nodes] + [f"--group {g}" for g in options.groups]
        return f"no checks selected: no node matches {' and '.join(given)}"
    possible = possible_checks(inventory, nodes)
    if any(check_wanted(check, options.only, options.skip) for check in possible):
        return None
    given = [f"--only {p}" for p in options.only] + [f"--skip {p}" for p in options.skip]
    return f"no checks selected: {' '.join(given)} left none of the checks here ({', '.join(possible)})"


def output_problem(output: str) -> str | None:
    """Why `--output` cannot be written, naming the path as the user gave it, or None."""
    target = Path(output)
    directory = target.parent
    if target.is_dir():
        return f"--output {output}: is a directory"
    if not directory.exists():
        return f"--output {output}: directory {directory} does not exist"
    if not directory.is_dir():
        return f"--output {output}: {directory} is not a directory"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"--output {output}: directory {directory} is not writable"
    return None


def check_options(args: argparse.Namespace) -> CheckOptions:
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
        started=getattr(args, "started", None),
    )


def run_check_command(inventory: Inventory, args: argparse.Namespace) -> int:
    options = check_options(args)
    try:
        problem = selection_problem(inventory, options)
        if problem is None and options.output:
            problem = output_problem(options.output)
        if problem is not None:
            _err(f"opsconsole: {problem}")
            return EXIT_UNKNOWN
        return run_check_mode(inventory, options)
    except (SelectionError, LockError, OutputError) as error:
        _err(f"opsconsole: {clean_line(error)}")
        return EXIT_UNKNOWN
