"""Checks that need the merged node, run in the same pass as everything else.

They look at partials, not built models, so a node with a wrong value elsewhere is still checked: a warn above
crit, a jump loop or a duplicate service name is reported together with the file's other problems.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .partial import INVALID, Partial, join
from .rules import quote

Report = Callable[[int | None, str, str], None]  # (line, key, message)


def check_nodes(report: Report, merged: dict[str, Partial]) -> None:
    """Checks that need the merged node, run on every node that parsed, whether or not it built."""
    checked: dict[int, tuple[Any, ...]] = {}  # lists shared through defaults or a group are checked once
    for name, part in merged.items():
        _check_thresholds(report, part)
        for section, attr in (("services", "name"), ("mounts", "path"), ("storage", "path"), ("scratch", "")):
            items = part.values.get(section)
            if isinstance(items, tuple) and id(items) not in checked:
                checked[id(items)] = items
                _check_unique(report, items, attr, part.origins[section])
        _check_scratch(report, name, part)
    _check_jumps(report, merged)


def _check_scratch(report: Report, name: str, part: Partial) -> None:
    """A scratch path at or under one of the node's network mounts: its disk use would be a statfs on NFS,
    which blocks in the kernel while the server hangs. Scratch is for local disks only."""
    scratch, mounts = part.values.get("scratch"), part.values.get("mounts")
    if not isinstance(scratch, tuple) or not isinstance(mounts, tuple):
        return
    paths = [m.values.get("path") for m in mounts if isinstance(m, Partial)]
    network = [path for path in paths if isinstance(path, str)]
    line, where = part.origins["scratch"]
    node = "" if where.startswith(f"nodes.{name}.") else f" of node {name}"  # inherited: say whose mounts
    for index, path in enumerate(scratch):
        if not isinstance(path, str):
            continue
        on = next((m for m in network if path == m or path.startswith(m.rstrip("/") + "/")), None)
        if on is not None:
            report(
                line,
                f"{where}[{index}]",
                f"{quote(path)} is on the network mount {quote(on)}{node}: scratch lists local disks only "
                "(a statfs on a hung NFS server blocks)",
            )


def _check_thresholds(report: Report, part: Partial) -> None:
    thresholds = part.values.get("thresholds")
    if not isinstance(thresholds, Partial):
        return
    model = thresholds.tp()  # the built-in levels under whatever the file set
    for name, level in thresholds.values.items():
        if not isinstance(level, Partial):
            continue
        default = getattr(model, name)
        warn = level.values.get("warn", default.warn)
        crit = level.values.get("crit", default.crit)
        if warn is not INVALID and crit is not INVALID and warn > crit:
            line, key = thresholds.origins[name]  # the mapping that set them, node, group or defaults
            report(line, key, f"warn ({warn:g}) must not be above crit ({crit:g})")


def _check_unique(report: Report, items: tuple[Any, ...], attr: str, origin: tuple[int | None, str]) -> None:
    """Report items of one list with the same `attr` (or the same value, for a list of strings)."""
    first: dict[str, tuple[int | None, str]] = {}  # value -> (line, item) of its first use
    for index, item in enumerate(items):
        if isinstance(item, Partial):
            value, line, where = item.values.get(attr), item.line, item.key
        else:
            value, line, where = item, origin[0], f"{origin[1]}[{index}]"
        if not isinstance(value, str):
            continue  # invalid or missing: already reported
        if value not in first:
            first[value] = (line, where.rsplit(".", 1)[-1])
            continue
        then, at = first[value]
        what = f"duplicate {attr}" if attr else "duplicate"
        key = join(where, attr) if attr else where
        report(line, key, f"{what} {quote(value)} (same as {at} on line {then})")


def _check_jumps(report: Report, merged: dict[str, Partial]) -> None:
    """Every node on a loop of `ssh.jump` between inventory nodes, found in linear time."""
    jumps: dict[str, str] = {}
    for name, part in merged.items():
        ssh = part.values.get("ssh")
        hop = ssh.values.get("jump") if isinstance(ssh, Partial) else None
        if isinstance(hop, str) and hop in merged:
            jumps[name] = hop
    state: dict[str, int] = {}  # 1: on the path being walked, 2: done
    for start in jumps:
        path: list[str] = []
        node: str | None = start
        while node is not None and node not in state:
            state[node] = 1
            path.append(node)
            node = jumps.get(node)
        if node is not None and state[node] == 1:  # walked back into this path: a loop
            loop = path[path.index(node) :]
            for i, member in enumerate(loop):
                _report_loop(report, member, [*loop[i:], *loop[:i], member], merged[member])
        for visited in path:
            state[visited] = 2


def _report_loop(report: Report, name: str, chain: list[str], part: Partial) -> None:
    ssh = part.values["ssh"]
    line, where = ssh.origins["jump"]
    inherited = "" if where.startswith(f"nodes.{name}.") else f" (inherited from {where})"
    shown = chain if len(chain) <= 8 else [*chain[:4], f"… {len(chain) - 6} more …", *chain[-2:]]
    report(line, f"nodes.{name}.ssh.jump", f"jump chain loops: {' -> '.join(shown)}{inherited}")
