"""Node detail: tabs for GPUs, Containers, Mounts, Services and Checks of one node; logs and restarts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane

from console.actions import ActionResult
from console.model.checks import CheckResult
from console.model.columns import NodeTab
from console.model.inventory import Node
from console.model.levels import NodeLevels
from console.model.node import NodeSnapshot
from console.pods import KIND_POD, NO_DOCKER, no_docker
from console.sections.columns import node_tabs
from screens.base import ConsoleScreen
from screens.confirm import ConfirmScreen
from widgets.checks_table import ChecksTable, detail_text
from widgets.cri_tables import CriContainersTable
from widgets.fleet_table import TONE_STYLE, NodeView, checks_cell, state_cell
from widgets.gpu_tables import GpuPlots, GpuTable, ProcessTable
from widgets.hardware import hardware_text
from widgets.keyed_table import KeyedTable
from widgets.node_tables import ContainersTable, MountsTable, ServicesTable
from widgets.safe import line, title
from widgets.slurm_tables import node_gpu_note
from widgets.status import duration
from widgets.tab_view import TabViewTable
from widgets.vitals import vitals_text


def _gpus_pane() -> ComposeResult:
    yield Static(id="gpu-note", classes="note")
    yield GpuTable(id="gpu-table")
    yield GpuPlots(id="gpu-plots")
    yield Static("Processes on the GPUs", classes="section")
    yield ProcessTable(id="process-table")


def _containers_pane() -> ComposeResult:
    yield Static(id="containers-note", classes="note")
    yield ContainersTable(id="containers-table")
    yield CriContainersTable(id="cri-table")
    yield Static(id="action-log")


def _mounts_pane() -> ComposeResult:
    yield Static(id="mounts-note", classes="note")
    yield MountsTable(id="mounts-table")


def _services_pane() -> ComposeResult:
    yield Static(id="services-note", classes="note")
    yield ServicesTable(id="services-table")


# The section tabs come from the registry (a Section's `tab`: key, title, place); what a tab holds is
# drawn here, by its pane. The Checks tab, which every node has, comes last.
PANES: dict[str, Callable[[], ComposeResult]] = {
    "gpus": _gpus_pane,
    "containers": _containers_pane,
    "mounts": _mounts_pane,
    "services": _services_pane,
}


def _view_pane(tab: NodeTab) -> ComposeResult:
    """A tab that describes itself (`NodeTab.view`): its note and table, filled after every poll."""
    yield Static(id=f"{tab.key}-note", classes="note")
    yield TabViewTable(tab.columns, id=f"{tab.key}-view")


SECTION_TABS = tuple(tab for tab in node_tabs() if tab.key in PANES or tab.view is not None)
TABS = (*(tab.key for tab in SECTION_TABS), "checks")


class NodeScreen(ConsoleScreen):
    CSS_PATH = "node.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("1", f"tab('{TABS[0]}')", "Tabs", key_display=f"1-{len(TABS)}"),
        *(
            Binding(str(number), f"tab('{tab}')", f"{tab.capitalize()} tab", show=False)
            for number, tab in enumerate(TABS[1:], start=2)
        ),
        Binding("l", "logs", "Logs"),
        Binding("R", "restart", "Restart"),
        Binding("w", "bringup", "Wizard", tooltip="The AI stack bring-up wizard on this node"),
        Binding("s", "shell", "Shell", tooltip="ssh to this node with the inventory's settings"),
    ]

    def __init__(self, node: Node, *, tab: str | None = None) -> None:
        super().__init__()
        self.node = node
        self.initial_tab = tab if tab in TABS else TABS[0]
        self.checks: dict[str, CheckResult] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="node-status")
        with TabbedContent(initial=self.initial_tab, id="node-tabs"):
            for number, tab in enumerate(SECTION_TABS, start=1):
                with TabPane(f"{number} {tab.title}", id=tab.key):
                    yield from PANES[tab.key]() if tab.key in PANES else _view_pane(tab)
            with TabPane(f"{len(TABS)} Checks", id="checks"):
                yield ChecksTable(id="checks-table")
                yield Static(id="check-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = title(f"{self.node.name} ({self.node.host})")
        self._focus_tab(self.initial_tab)

    def polled_nodes(self) -> Iterable[str]:
        return (self.node.name,)

    # --- the app's hooks -----------------------------------------------------------------------------

    def show_snapshot(self, snapshot: NodeSnapshot) -> None:
        self.catch_up()

    def show_slow(self, node: str, seconds: float) -> None:
        self.show_status(polling_for=seconds)

    def catch_up(self) -> None:
        snapshot = self.session.latest.get(self.node.name)
        verdict = self.session.verdict(self.node)
        self.show_status()
        self._show_gpus(snapshot, verdict.levels)
        self._show_containers(snapshot, verdict.levels)
        self._show_mounts(snapshot)
        self._show_services(snapshot, verdict.levels)
        self._show_views(snapshot, verdict.levels)
        self.checks = self.query_one(ChecksTable).show(verdict.results)
        self._show_check_detail()
        self._show_action_log()

    def show_status(self, polling_for: float | None = None) -> None:
        node, snapshot = self.node, self.session.latest.get(self.node.name)
        verdict = self.session.verdict(node)
        view = NodeView(node, snapshot, verdict.results, polling_for=polling_for, levels=verdict.levels)
        parts: list[Text | str] = [Text(node.name, style="bold"), node.host, state_cell(view)]
        if node.groups:
            parts.insert(2, ", ".join(node.groups))
        if snapshot is not None and snapshot.reachable:
            connection = self._connection(snapshot)
            if connection:
                parts.append(connection)
            if snapshot.gpu is not None and snapshot.gpu.driver:
                parts.append(line(f"driver {snapshot.gpu.driver}"))
        if snapshot is not None:
            parts.append(f"polled {snapshot.taken_at:%H:%M:%S} UTC")
        elif polling_for is not None:
            parts.append(f"no answer for {polling_for:.0f}s")
        parts += ["checks", checks_cell(view.results)]
        if self.ops_app.paused:
            parts.insert(0, Text("⏸ PAUSED", style="bold reverse"))
        text = Text("  ·  ").join(Text(part) if isinstance(part, str) else part for part in parts)
        if snapshot is not None and not snapshot.reachable:
            text.append("\n")
            text.append_text(line(snapshot.error or "unreachable", "bold red"))
        elif (vitals := vitals_text(snapshot.basics if snapshot is not None else None)) is not None:
            text.append("\n")
            text.append_text(vitals)
        hardware = hardware_text(snapshot.hardware) if snapshot is not None and snapshot.reachable else None
        if hardware is not None:  # the OS, SELinux and hardware: read once per connection
            hardware.truncate(max(20, self.size.width - 2), overflow="ellipsis")  # one line, OS first
            text.append("\n")
            text.append_text(hardware)
        self.set_text("#node-status", text)

    def _connection(self, snapshot: NodeSnapshot) -> str | None:
        """'connected 3h 12m ago in 0.21s': how long this connection has been up, and how long its real
        handshake took (not the reuse of a pooled connection)."""
        if self.node.transport == "local":
            return None
        connected_at = snapshot.connected_at
        handshake = f" in {snapshot.connect_s:.2f}s" if snapshot.connect_s is not None else ""
        if connected_at is None:
            return f"connected{handshake}" if handshake else None
        age = duration((self.session.now() - connected_at).total_seconds())
        return f"connected {age} ago{handshake}"

    def _note(self, pane: str, text: str | Text | None) -> None:
        self.set_text(f"#{pane}-note", text or "")
        note = self.query_one(f"#{pane}-note", Static)
        if note.display != bool(text):
            note.display = bool(text)

    def _show_gpus(self, snapshot: NodeSnapshot | None, levels: NodeLevels) -> None:
        gpu = snapshot.gpu if snapshot is not None else None
        history = partial(self.session.history.gpu, self.node.name)
        self.query_one(GpuTable).show(gpu, history, levels)
        cri = snapshot.cri if snapshot is not None else None
        self.query_one(ProcessTable).show(gpu, snapshot.docker if snapshot is not None else None, cri)
        self._show_gpu_plots()
        if snapshot is None:
            self._note("gpu", Text("waiting for the first poll…", style="dim"))
        elif not snapshot.reachable:
            self._note("gpu", line(f"✖ unreachable: {snapshot.error}", "bold red"))
        elif gpu is None or gpu.status != "ok":
            self._note("gpu", line((gpu.error if gpu else None) or "no GPU data", "yellow"))
        else:
            self._note("gpu", node_gpu_note(self.node, gpu, self.session.latest, now=self.session.now()))

    def _show_gpu_plots(self) -> None:
        """The plots of the GPU under the table's cursor (the first one until the cursor moves)."""
        snapshot = self.session.latest.get(self.node.name)
        gpu = snapshot.gpu if snapshot is not None else None
        readings = gpu.gpus if gpu is not None and gpu.status == "ok" else ()
        key = self.query_one(GpuTable).cursor_key
        reading = next((r for r in readings if f"gpu{r.index}" == key), readings[0] if readings else None)
        plots = self.query_one(GpuPlots)
        plots.display = reading is not None
        if reading is not None:
            history, now = self.session.history, self.session.now().timestamp()
            plots.show(
                reading, partial(history.points, self.node.name), now, history.length, self.node.refresh
            )

    def _show_containers(self, snapshot: NodeSnapshot | None, levels: NodeLevels) -> None:
        docker = snapshot.docker if snapshot is not None else None
        basics = snapshot.basics if snapshot is not None else None
        self.query_one(ContainersTable).show(docker, self.session.now(), levels, basics)
        cri = snapshot.cri if snapshot is not None else None
        crio = cri is not None and cri.absent is None  # a CRI-O node: crictl's containers instead
        self.query_one(CriContainersTable).show(cri if crio else None, self.session.now(), levels)
        self.query_one(CriContainersTable).display = crio
        self.query_one(ContainersTable).display = not crio
        absent = no_docker(self.node, docker)
        if cri is not None and crio:
            running = sum(c.state == "running" for c in cri.containers)
            said = (
                f"CRI-O (crictl) · {running}/{len(cri.containers)} containers running · {len(cri.pods)} pods"
            )
            self._note(
                "containers", line(f"✖ {cri.error}", "bold red") if cri.error else Text(said, style="dim")
            )
        elif absent is not None:  # a pod: said once, as its docker.engine result says it
            self._note("containers", Text(absent, style="dim"))
        elif self.node.docker is None:
            unwatched = "Docker is not watched on this node (no docker: section)"
            note = f"{NO_DOCKER} ({KIND_POD})" if self.node.kind == "pod" else unwatched
            self._note("containers", Text(note, style="dim"))
        elif docker is not None and docker.error:
            self._note("containers", line(f"✖ Docker: {docker.error}", "bold red"))
        elif docker is not None and docker.engine is not None:
            engine = docker.engine
            runtime = "nvidia runtime" if engine.nvidia_runtime else "no nvidia runtime"
            self._note("containers", line(f"Docker {engine.version} · {runtime} · l logs · R restart", "dim"))
        else:
            self._note("containers", Text("no Docker data yet", style="dim"))

    def _show_mounts(self, snapshot: NodeSnapshot | None) -> None:
        mounts = snapshot.mounts if snapshot is not None else None
        self.query_one(MountsTable).show(mounts)
        if not self.node.mounts:
            self._note("mounts", Text("no mounts in the inventory for this node", style="dim"))
        elif mounts is not None and mounts.error:
            self._note("mounts", line(f"✖ {mounts.error}", "bold red"))
        else:
            self._note("mounts", None)

    def _show_services(self, snapshot: NodeSnapshot | None, levels: NodeLevels) -> None:
        services = snapshot.services if snapshot is not None else None
        self.query_one(ServicesTable).show(self.node, services, levels)
        if not self.node.services:
            self._note("services", Text("no services in the inventory for this node", style="dim"))
        elif services is not None and services.error:
            self._note("services", line(f"✖ {services.error}", "bold red"))
        else:
            self._note("services", None)

    def _show_views(self, snapshot: NodeSnapshot | None, levels: NodeLevels) -> None:
        for tab in SECTION_TABS:
            if tab.view is not None and tab.key not in PANES:
                view = tab.view(self.node, snapshot, levels)
                self.query_one(f"#{tab.key}-view", TabViewTable).show(view)
                self._note(tab.key, line(view.note, TONE_STYLE[view.tone]) if view.note else None)

    def _show_check_detail(self) -> None:
        table = self.query_one(ChecksTable)
        key = table.cursor_key
        self.set_text("#check-detail", detail_text(self.checks.get(key or "")))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if isinstance(event.data_table, ChecksTable):
            self._show_check_detail()
        elif isinstance(event.data_table, GpuTable):
            self._show_gpu_plots()
        self.refresh_bindings()

    def _show_action_log(self) -> None:
        lines = [entry for entry in self.ops_app.action_log if entry[0] == self.node.name][-3:]
        text = Text()
        for _, logged in lines:
            text.append_text(logged)
            text.append("\n")
        self.set_text("#action-log", text)

    def show_action(self, result: ActionResult) -> None:
        self._show_action_log()

    # --- keys ----------------------------------------------------------------------------------------

    @property
    def active_tab(self) -> str:
        return self.query_one(TabbedContent).active

    def _focus_tab(self, tab: str) -> None:
        tables = self.query_one(f"#{tab}", TabPane).query(KeyedTable)
        if tables:
            tables.first().focus()

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        self._focus_tab(tab)
        self.refresh_bindings()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._focus_tab(self.active_tab)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("logs", "restart"):
            if not self.is_mounted or self.active_tab != "containers":
                return False
            return self.query_one(ContainersTable).cursor_key is not None or None
        return True

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_shell(self) -> None:
        """s: a shell on this node (ssh with its settings, or $SHELL for a local node); back here after."""
        from screens.shell import open_shell

        open_shell(self, self.node)

    def _selected_container(self) -> str | None:
        return self.query_one(ContainersTable).cursor_key if self.active_tab == "containers" else None

    def action_logs(self) -> None:
        name = self._selected_container()
        if name is not None:
            from screens.logs import LogScreen

            self.app.push_screen(LogScreen(self.node, name))

    def action_restart(self) -> None:
        name = self._selected_container()
        if name is None:
            return
        question = ConfirmScreen(
            line(f"Restart container {name}?"),
            line(
                f"docker restart {name} on node {self.node.name} ({self.node.host}). "
                "Its processes are stopped (SIGTERM, then SIGKILL after 10 s) and started again."
            ),
            confirm="Restart",
        )
        self.app.push_screen(question, partial(self._restart_answered, name))

    def action_bringup(self) -> None:
        """The AI stack bring-up for this node: every step planned and confirmed on the wizard screen."""
        transport = self.session.transports.get(self.node.name)
        if transport is None:
            self.notify("no live connection to this node (recorded data)", severity="warning")
            return
        from console.wizards.bringup import bringup_wizard
        from console.wizards.engine import NodeContext
        from console.wizards.settings import stack_settings
        from screens.wizard import WizardScreen

        context = NodeContext(transport, self.node, self.session.audit)
        self.app.push_screen(WizardScreen(bringup_wizard(stack_settings(self.node)), context))

    def _restart_answered(self, container: str, confirmed: bool | None) -> None:
        self.ops_app.restart_container(self.node, container, confirmed=bool(confirmed))
        self._show_action_log()
