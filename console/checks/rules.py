"""Rules: turn one node's snapshot into check results. Pure functions, no I/O.

Each section's rules come from the section registry (`console.sections`), planned and evaluated in
registration order after `ssh.reachable`. Sections that live above the checks (the AI stack's, in the
wizards) register themselves when their module is imported; the checks never import them.
"""

from __future__ import annotations

from console.checks.fixes import name_fixes
from console.checks.model import CheckResult, Status
from console.inventory.model import Node
from console.model.node import NodeSnapshot
from console.sections import registered

Planned = tuple[tuple[str, str | None], ...]


def planned_checks(node: Node) -> Planned:
    """(check id, target) pairs a node gets, known before anything runs (so a timeout can name them)."""
    return (("ssh.reachable", None), *(pair for section in registered() for pair in section.planned(node)))


def unknown_results(node: Node, summary: str) -> tuple[CheckResult, ...]:
    return tuple(
        CheckResult(node.name, check, Status.UNKNOWN, summary, target=target)
        for check, target in planned_checks(node)
    )


UNREACHABLE_CAUSE = "node unreachable (see ssh.reachable)"


def _age(seconds: float) -> str:
    """3s, 12m, 2h 5m, 3d 4h: how long a connection has been up."""
    seconds = max(0, int(seconds))
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 60:
        return f"{seconds}s"
    if minutes < 60:
        return f"{minutes}m"
    if hours < 24:
        return f"{hours}h {minutes % 60}m" if minutes % 60 else f"{hours}h"
    return f"{days}d {hours % 24}h" if hours % 24 else f"{days}d"


def reachable_summary(node: Node, snapshot: NodeSnapshot) -> str:
    """`connected in 0.12s, up 3m`: the real handshake and the connection's age, never the time a pooled
    connection took to be handed back (that is ~0 and says nothing)."""
    if node.transport == "local":
        return "local"
    if snapshot.connect_s is None:
        return "connected (connection reused; handshake time not recorded)"
    summary = f"connected in {snapshot.connect_s:.2f}s"
    if snapshot.connected_at is not None:
        try:
            up = (snapshot.taken_at - snapshot.connected_at).total_seconds()
        except TypeError:  # one naive, one aware datetime: no age rather than a wrong one
            return summary
        if up >= 1:  # a connection made for this very poll (every --check run) has no age worth saying
            summary += f", up {_age(up)}"
    return summary


def evaluate(node: Node, snapshot: NodeSnapshot) -> tuple[CheckResult, ...]:
    if not snapshot.reachable:
        # One critical names the cause; everything that needed the connection is skipped, not unknown. A
        # section read without the node (a BMC over Redfish) is judged as usual.
        reason = snapshot.error or "unreachable"
        results = [CheckResult(node.name, "ssh.reachable", Status.CRITICAL, reason)]
        for section in registered():
            planned = section.planned(node)
            if planned and section.without_node is not None and getattr(snapshot, section.name) is not None:
                results += section.evaluate(node, snapshot)
                continue
            results += (
                CheckResult(node.name, check, Status.SKIPPED, UNREACHABLE_CAUSE, target=target)
                for check, target in planned
            )
        return tuple(results)
    results = [CheckResult(node.name, "ssh.reachable", Status.OK, reachable_summary(node, snapshot))]
    for section in registered():
        if section.wanted(node):
            results += section.evaluate(node, snapshot)
    # Failures the troubleshooting catalogue repairs name their fix: "troubleshoot NAME".
    return name_fixes(results)
