"""The command palette (Ctrl+P): every key binding of the screen it was opened from, "go to node …" for
every node, and the console's screens."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.fuzzy import Matcher
from textual.markup import escape

from screens.kubernetes import open_kubernetes
from screens.racks import open_racks
from screens.slurm import open_slurm
from screens.tunnels import open_tunnels

if TYPE_CHECKING:
    from screens.app import OpsConsoleApp

Command = tuple[str, str, Callable[[], object]]


class ConsoleCommands(Provider):
    def _commands(self) -> list[Command]:
        app = cast("OpsConsoleApp", self.app)
        commands: list[Command] = [
            ("Fleet", "the fleet overview", app.action_open_fleet),
            ("Checks across the fleet", "every check result, filterable by status", app.action_open_checks),
            ("PromQL explorer", "query the fleet's Prometheus", app.action_open_promql),
            (
                "Racks and power",
                "per rack: PDU watts against the budget, BMC and GPU watts (P)",
                partial(open_racks, app),
            ),
            (
                "Slurm",
                "partitions, nodes with GPUs and jobs, the queue; drain, resume, cancel (J)",
                partial(open_slurm, app),
            ),
            (
                "Kubernetes",
                "node pools, Ready, taints, GPUs allocatable/requested/reported; the GPU Operator (K)",
                partial(open_kubernetes, app),
            ),
            (
                "Tunnels",
                "SSH tunnels: state, local address, bytes, last error; open and close (T)",
                partial(open_tunnels, app),
            ),
        ]
        for name, node in app.nodes.items():
            commands.append((f"Go to node {name}", f"{node.host}: GPUs, containers, mounts, services, checks",
                             partial(app.open_node, name)))  # fmt: skip
        for name in app.discovered_nodes():  # named by the series: remote text, shown as text (below)
            commands.append((f"Go to node {name}", "read from Prometheus: its series, GPUs, alerts, checks",
                             partial(app.open_node, name)))  # fmt: skip
        seen: set[str] = set()
        for key, active in self.screen.active_bindings.items():
            binding = active.binding
            if not binding.description or binding.action in seen or not active.enabled:
                continue
            seen.add(binding.action)
            shown = app.get_key_display(binding)
            label = (
                binding.description
                if not binding.group
                else f"{binding.group.description} {binding.description}"
            )
            commands.append((f"{label} ({shown})", binding.tooltip or f"key: {shown or key}",
                             partial(app.run_action, binding.action, active.node)))  # fmt: skip
        return commands

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(Content(name), callback, text=name, help=escape(help_text))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, _highlight(matcher, name), callback, text=name, help=escape(help_text))


def _highlight(matcher: Matcher, name: str) -> Content:
    """Matcher.highlight, for a name that is text: Textual's reads it as markup (a node's name from
    Prometheus is remote text; `[/]` in it would raise, `[reverse]` would style)."""
    content = Content(name)
    _score, offsets = matcher.fuzzy_search.match(matcher.query, name)
    for offset in offsets:
        if not name[offset].isspace():
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content
