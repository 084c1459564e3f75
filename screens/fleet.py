"""Fleet screen (home): one row per node, grouped by inventory group; filter, sort, fold; Enter opens it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Input, Static

from console.history import METRICS
from console.model.checks import CheckResult, Status
from console.model.inventory import Node
from console.model.node import NodeSnapshot
from console.sections.columns import fleet_columns, fleet_values
from console.session import FleetProblems
from screens.base import ConsoleScreen
from screens.fleet_prom import PromFleetRows
from screens.messages import FleetChecksAnswered
from widgets.fleet_table import GROUP_PREFIX, FleetTable, NodeView
from widgets.status import STATUS_ICON, STATUS_STYLE, plural
from widgets.trouble import next_trouble, node_status, rows_in_trouble, tally_text


def prometheus_problems(
    problems: FleetProblems | None, results: tuple[CheckResult, ...] | None
) -> Text | None:
    """'✖ Prometheus: 2 alerts, 1 target down (a)' for the fleet header (the session's count of firing
    alerts and down targets, in the colour of the worst Prometheus result); None when all is well."""
    if problems is None:
        return None
    if problems.error is not None:
        return Text("? Prometheus: no answer (a)", style=STATUS_STYLE[Status.UNKNOWN])
    if not problems.count:
        return None
    said = []
    if problems.firing:
        said.append(plural(problems.firing, "alert"))  # firing: a pending alert is not a problem yet
    if problems.down:
        said.append(f"{plural(problems.down, 'target')} down")
    bad = tuple(result.status for result in results or () if result.status is not Status.OK)
    worst = Status.worst(bad) if bad else Status.CRITICAL
    return Text(f"{STATUS_ICON[worst]} Prometheus: {', '.join(said)} (a)", style=STATUS_STYLE[worst])


class Figures(NamedTuple):
    """One node's part of the fleet header."""

    answered: bool
    up: bool
    gpus: int
    status: Status | None


def node_figures(snapshot: NodeSnapshot | None, status: Status | None) -> Figures:
    if snapshot is None:
        return Figures(False, False, 0, status)
    gpus = 0
    if snapshot.reachable and snapshot.gpu is not None and snapshot.gpu.status == "ok":
        gpus += len(snapshot.gpu.gpus)
    if snapshot.reachable and snapshot.prom is not None:
        gpus += snapshot.prom.gpu_count or 0
    return Figures(True, snapshot.reachable, gpus, status)


class FleetScreen(PromFleetRows, ConsoleScreen):
    CSS_PATH = "fleet.tcss"
    BINDINGS = [
        Binding("enter", "open", "Open"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding(
            "right_square_bracket",
            "trouble",
            "Trouble",
            key_display="]",
            tooltip="The next node not OK (critical, unknown or warning), wrapping round",
        ),
        Binding("left_square_bracket", "trouble(True)", "Previous trouble", key_display="[", show=False),
        Binding(
            "s", "shell", "Shell", tooltip="ssh to the node under the cursor with the inventory's settings"
        ),
        # The header names `o` (after the sort column) and `a` (after Prometheus's problems): both stay out
        # of the footer, which must keep `?` at 80 columns.
        Binding("o", "sort", "Sort", show=False),
        Binding("O", "reverse", "Reverse sort", show=False),
        Binding("z", "fold", "Fold", show=False),
        Binding("Z", "fold_all", "Fold all", show=False),
        Binding("c", "app.open_checks", "Checks"),
        Binding("e", "app.open_promql", "PromQL"),
        Binding("P", "racks", "Racks", show=False, tooltip="Power per rack: PDUs, budget, BMCs, GPUs"),
        Binding("J", "slurm", "Slurm", show=False, tooltip="Slurm: nodes, GPUs and jobs, the queue"),
        Binding("K", "kubernetes", "Kubernetes", show=False, tooltip="Kubernetes: pools, GPUs, GPU Operator"),
        Binding("T", "tunnels", "Tunnels", show=False, tooltip="SSH tunnels: open, close, state, bytes"),
        Binding("a", "prometheus_problems", "Alerts", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._slow: dict[str, float] = {}
        self._prometheus_waiting = True
        self._worst: dict[str, tuple[object, Status | None]] = {}  # node -> (its verdict, worst status)
        # node -> (the snapshot and node they were read from, its part of the header: up, GPUs, worst status)
        self._figures: dict[str, tuple[object, Node, Figures]] = {}

    @property
    def nodes(self) -> dict[str, Node]:
        """The inventory's nodes, then those read from Prometheus (fleet: {source: prometheus})."""
        return self.merged_nodes()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="fleet-summary")
        yield FleetTable(id="fleet-table", columns=fleet_columns())
        yield Input(
            placeholder="filter: node, group, host, state…  (Enter keeps it, Esc clears)",
            id="fleet-filter",
            compact=True,
        )
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#fleet-filter", Input).cursor_blink = self.ops_app.cursor_blink
        self.query_one(FleetTable).set_nodes(list(self.nodes.values()))
        self.poll_prometheus()
        self.read_prom_fleet()

    def polled_nodes(self) -> Iterable[str]:
        return self.ops_app.nodes  # polled over SSH; the discovered ones come in one read of the fleet

    @property
    def table(self) -> FleetTable:
        return self.query_one(FleetTable)

    def view(self, node: Node) -> NodeView:
        name = node.name
        verdict = self.session.verdict(node)
        snapshot = self.session.latest.get(name)
        history = self.session.history

        def series(metric: str) -> tuple[float, ...]:
            return history.node(name, metric) if metric in METRICS else ()  # `in` narrows to a Metric

        return NodeView(
            node,
            snapshot,
            verdict.results,
            self._slow.get(name) if self.ops_app.in_flight(name) else None,
            verdict.levels,
            fleet_values(node, snapshot, verdict.levels, series),
        )

    # --- the app's hooks -----------------------------------------------------------------------------

    def show_snapshot(self, snapshot: NodeSnapshot) -> None:
        self.show_snapshots((snapshot,))

    def show_snapshots(self, snapshots: Sequence[NodeSnapshot]) -> None:
        table = self.table
        for snapshot in snapshots:
            self._slow.pop(snapshot.node, None)
            table.show(self.view(self.nodes[snapshot.node]))
        self.show_status()  # once per frame: it counts over the whole fleet

    def show_slow(self, node: str, seconds: float) -> None:
        self._slow[node] = seconds
        if node in self.nodes:
            self.table.show(self.view(self.nodes[node]))
            self.show_status()

    def refresh_now(self) -> None:
        self.poll_prometheus()
        self.read_prom_fleet()

    # --- the fleet's Prometheus: its problems are counted in the header -------------------------------

    @work(group="fleet-prometheus", exclusive=True, exit_on_error=False)
    async def poll_prometheus(self) -> None:
        self._prometheus_waiting = False
        if self.session.prometheus is not None:
            self.post_message(FleetChecksAnswered(await self.session.fleet_checks()))

    def on_fleet_checks_answered(self, message: FleetChecksAnswered) -> None:
        self.ops_app.fleet_results = message.results
        self.show_status()
        self.set_timer(self.ops_app.base_interval, self._prometheus_due)

    def _prometheus_due(self) -> None:
        if self.is_current and not self.ops_app.paused:
            self.poll_prometheus()
        else:
            self._prometheus_waiting = True

    def action_prometheus_problems(self) -> None:
        """a: the checks screen with only the fleet's Prometheus problems (firing alerts, down targets)."""
        self.ops_app.open_checks(status_filter="problems", scope="prometheus")

    def action_slurm(self) -> None:
        """J: the Slurm screen (the cluster read through the inventory's slurm.via node)."""
        from screens.slurm import open_slurm

        open_slurm(self.ops_app)

    def action_kubernetes(self) -> None:
        """K: the Kubernetes screen (the cluster read through the inventory's kubernetes.via node)."""
        from screens.kubernetes import open_kubernetes

        open_kubernetes(self.ops_app)

    def action_tunnels(self) -> None:
        """T: the tunnels screen (the inventory's tunnels, each pod's exporter, each service)."""
        from screens.tunnels import open_tunnels

        open_tunnels(self.ops_app)

    def action_racks(self) -> None:
        """P: the rack view (PDU watts against each rack's budget, BMC and GPU watts)."""
        from screens.racks import open_racks

        open_racks(self.ops_app)

    def catch_up(self) -> None:
        if self._prometheus_waiting:
            self.poll_prometheus()
        self.prom_fleet_catch_up()
        table = self.table
        for node in self.nodes.values():
            table.show(self.view(node), rearrange=False, header=False, place=False)  # placed by regroup
        table.regroup()
        self.show_status()

    def show_status(self) -> None:
        latest = self.session.latest
        nodes = self.nodes
        names = list(nodes)
        kept, figures = self._figures, []
        for name, node in nodes.items():  # once per frame: only a node whose answer changed is worked out
            snapshot = latest.get(name)
            known = kept.get(name)
            if known is None or known[0] is not snapshot or known[1] is not node:
                known = kept[name] = (snapshot, node, node_figures(snapshot, self.node_status(node)))
            figures.append(known[2])
        seen = sum(1 for figure in figures if figure.answered)
        up = sum(1 for figure in figures if figure.up)
        gpus = sum(figure.gpus for figure in figures)
        parts = [plural(len(names), "node"), f"{up} up", f"{seen - up} down"]
        slow = sum(1 for name in names if name in self._slow and self.ops_app.in_flight(name))
        if slow:
            parts.append(f"{slow} slow")
        if seen < len(names):
            parts.append(f"{len(names) - seen} waiting")
        if self.session.prom_fleet is not None:
            parts.append(f"{len(self.session.prom_fleet.nodes)} from Prometheus")
        parts += [plural(gpus, "GPU"), f"every {self.ops_app.base_interval:g}s"]
        table = self.table
        arrow = "↑" if table.sort_reverse else "↓"
        parts.append(f"sort {table.sort_column} {arrow} (o)")
        if table.filter:
            parts.append(f'filter "{table.filter}"')
        if table.folded:
            parts.append(f"{len(table.folded)} folded")
        # Trouble first, what fits at 80 columns: nodes by their worst check (a down node is critical),
        # then Prometheus's firing alerts and down targets; up/down and the rest after them.
        text = Text(parts[0])
        for said in (
            tally_text([figure.status for figure in figures]),
            prometheus_problems(self.session.prometheus_problems, self.ops_app.fleet_results),
        ):
            if said:
                text.append("  ·  ")
                text.append_text(said)
        text.append("  ·  " + "  ·  ".join(parts[1:]))
        if self.ops_app.paused:
            text = Text.assemble(("⏸ PAUSED  ", "bold reverse"), text)
        self.set_text("#fleet-summary", text)

    def node_statuses(self) -> dict[str, Status | None]:
        """Each node's worst check status (None before its first answer), from the session's verdicts;
        worked out again only for a node whose verdict changed."""
        return {name: self.node_status(node) for name, node in self.nodes.items()}

    def node_status(self, node: Node) -> Status | None:
        """One node's worst check status, kept with the verdict it was worked out from."""
        name = node.name
        verdict = self.session.verdict(node)
        cached = self._worst.get(name)
        if cached is None or cached[0] is not verdict:
            judged = node_status(verdict.results) if name in self.session.latest else None
            cached = self._worst[name] = (verdict, judged)
        return cached[1]

    # --- keys ----------------------------------------------------------------------------------------

    def action_trouble(self, backwards: bool = False) -> None:
        """]: the cursor to the next node that is not OK ([: the previous), wrapping round; a folded group
        holding one is a stop too. Nodes the filter hides are passed over (and said so when only they are)."""
        table = self.table
        statuses = self.node_statuses()
        order = [row.key.value for row in table.ordered_rows if row.key.value is not None]
        bad = rows_in_trouble(statuses, table.groups, table.folded, GROUP_PREFIX)
        target = next_trouble(order, table.cursor_key, bad, backwards=backwards)
        if target is not None:
            table.restore_cursor(target)
            return
        hidden = sum(1 for status in statuses.values() if status is not None and status is not Status.OK)
        if hidden:
            self.notify(f"{plural(hidden, 'node')} not OK, hidden by the filter", timeout=3, markup=False)
        else:
            self.notify("every node is OK", timeout=3)

    def action_shell(self) -> None:
        """s: a shell on the node under the cursor; back to the fleet when it ends."""
        key = self.table.cursor_key
        if key is None or key not in self.nodes:
            self.notify("no node under the cursor", timeout=3)
            return
        if key not in self.ops_app.nodes:
            self.notify(f"{key}: read from Prometheus, no SSH to this node", timeout=3, markup=False)
            return
        from screens.shell import open_shell

        open_shell(self, self.nodes[key])

    def action_open(self) -> None:
        key = self.table.cursor_key
        if key is None:
            return
        if key.startswith(GROUP_PREFIX):
            self.table.toggle_fold(key[len(GROUP_PREFIX) :])
            self.show_status()
        elif key not in self.ops_app.nodes and self.discovered(key) is not None:
            from screens.prom_node import PromNodeScreen

            self.app.push_screen(PromNodeScreen(self.nodes[key]))  # no SSH: its series alone
        else:
            self.ops_app.open_node(key)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        column = event.column_key.value or "node"
        table = self.table
        if column in table.sortable:
            table.sort_by(column, reverse=not table.sort_reverse if column == table.sort_column else False)
            self.show_status()

    def action_sort(self) -> None:
        table = self.table
        columns = [column for column in table.sortable if column in table.shown_columns]
        current = columns.index(table.sort_column) if table.sort_column in columns else -1
        table.sort_by(columns[(current + 1) % len(columns)], reverse=False)
        self.show_status()

    def action_reverse(self) -> None:
        self.table.sort_by(self.table.sort_column, reverse=not self.table.sort_reverse)
        self.show_status()

    def action_fold(self) -> None:
        group = self.table.group_at_cursor()
        if group is not None:
            self.table.toggle_fold(group)
            self.show_status()

    def action_fold_all(self) -> None:
        table = self.table
        table.folded = set() if table.folded else set(table.groups)
        table.regroup()
        self.show_status()

    def action_filter(self) -> None:
        box = self.query_one("#fleet-filter", Input)
        box.add_class("-shown")
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "fleet-filter":
            self.table.set_filter(event.value)
            self.show_status()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "fleet-filter":
            if not event.value.strip():
                event.input.remove_class("-shown")
            self.table.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#fleet-filter", Input)
        box.value = ""
        box.remove_class("-shown")
        self.table.set_filter("")
        self.table.focus()
        self.show_status()
