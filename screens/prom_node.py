"""A node read from Prometheus alone (no SSH to it): its vitals, its GPUs one by one, its alerts, its checks.

Opened from the fleet on a node the inventory does not list (`fleet: {source: prometheus}`). The fleet's
read gives the node's aggregates; this screen's worker asks Prometheus for this one node's GPU series
(`collect_gpus_from_prometheus`) and the firing alerts that name it, every refresh while it is shown.
Everything here says where it comes from: "read from Prometheus: no SSH to this node".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Footer, Header, Static

from console.checks.levels import node_levels
from console.collectors.prometheus import PrometheusError
from console.model.basics import short_bytes
from console.model.gpu import GpuSnapshot
from console.model.inventory import Node
from console.model.node import NodeSnapshot
from console.model.prom_fleet import PromNode
from console.model.prometheus import AlertInfo
from screens.base import ConsoleScreen
from widgets.checks_table import ChecksTable
from widgets.fleet_table import NodeView, state_cell
from widgets.gpu_tables import GpuTable
from widgets.safe import line, title

NO_SSH = "read from Prometheus: no SSH to this node"


@dataclass
class PromNodeRead(Message):
    gpus: GpuSnapshot
    alerts: tuple[AlertInfo, ...] | None  # None: Prometheus's alerts could not be asked
    error: str | None = None


def vitals_text(prom: PromNode | None) -> Text:
    """The node's aggregates as the fleet's last read gave them (a dash for what no series said)."""
    if prom is None:
        return Text("no figures from Prometheus yet", style="dim")

    def figure(value: float | None, template: str) -> str:
        return "–" if value is None else template.format(value)

    mem = "–"
    if prom.mem_total_bytes is not None and prom.mem_available_bytes is not None:
        used = prom.mem_total_bytes - prom.mem_available_bytes
        mem = f"{short_bytes(used)}/{short_bytes(prom.mem_total_bytes)}"
    net = "–"
    if prom.net_rx_bps is not None and prom.net_tx_bps is not None:
        net = f"↓{short_bytes(prom.net_rx_bps)}/s ↑{short_bytes(prom.net_tx_bps)}/s"
    disk = figure(prom.disk_fullest_pct, "{:.0f}%")
    if prom.disk_fullest_mount and prom.disk_fullest_pct is not None:
        disk += f" ({prom.disk_fullest_mount})"
    parts = [
        f"CPU {figure(prom.cpu_pct, '{:.0f}%')}",
        f"mem {mem}",
        f"load {figure(prom.load1, '{:.2f}')}",
        f"fullest disk {disk}",
        f"net {net}",
        f"containers {figure(prom.containers_running, '{:.0f}')}"
        f" ({figure(prom.container_restarts, '{:.0f}')} starts in 1h)",
    ]
    text = line("  ·  ".join(parts), "dim" if prom.stale or prom.clock_skew else "")
    if prom.age_s is not None:
        age = f"newest series {prom.age_s:.0f}s old"
        if prom.scrape_interval_s is not None:
            age += f" (scrape every {prom.scrape_interval_s:g}s)"
        text.append("\n")
        if skew := prom.clock_skew:
            text.append(f"{skew}: how fresh the figures are cannot be told", "yellow")
        elif prom.stale:
            text.append(age + ": STALE, the figures are old", "yellow")
        else:
            text.append(age, "dim")
    return text


def alerts_text(alerts: tuple[AlertInfo, ...] | None) -> Text:
    if alerts is None:
        return Text("alerts: Prometheus did not answer", style="yellow")
    if not alerts:
        return Text("no alert firing for this node", style="dim")
    text = Text()
    for alert in alerts:
        if text:
            text.append("\n")
        text.append("✖ ", "bold red")
        text.append(alert.name, "bold")
        if alert.severity:
            text.append(f" ({alert.severity})")
        if alert.summary:
            text.append(f": {alert.summary}")
    return text


class PromNodeScreen(ConsoleScreen):
    CSS_PATH = "prom_node.tcss"
    BINDINGS = [Binding("escape", "back", "Back")]

    def __init__(self, node: Node) -> None:
        super().__init__()
        self.node = node
        self.gpus: GpuSnapshot | None = None
        self.alerts: tuple[AlertInfo, ...] | None = ()
        self._waiting = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="prom-node-status")
        yield Static(id="prom-node-vitals")
        yield Static("GPUs (each from its own series)", classes="section")
        yield Static(id="prom-gpu-note", classes="note")
        yield GpuTable(id="prom-gpu-table")
        yield Static("Alerts firing", classes="section")
        yield Static(id="prom-node-alerts", classes="note")
        yield Static("Checks (from the series; those needing SSH skipped)", classes="section")
        yield ChecksTable(id="prom-checks-table")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = title(f"{self.node.name} (Prometheus)")
        self.catch_up()
        self.read_node()

    def polled_nodes(self) -> Iterable[str]:
        return ()  # nothing over SSH: this screen reads Prometheus itself

    @work(group="prom-node", exclusive=True, exit_on_error=False)
    async def read_node(self) -> None:
        fleet = self.session.prom_fleet
        if fleet is None:
            return
        self._waiting = False
        try:
            gpus = await fleet.node_gpus(self.node)
        except PrometheusError as exc:
            gpus = GpuSnapshot(self.node.name, self.session.now(), "prometheus", "error", error=str(exc))
        alerts: tuple[AlertInfo, ...] | None = None
        if self.session.prometheus is not None:
            try:
                alerts = fleet.node_alerts(await self.session.alerts(), self.node.name)
            except PrometheusError:
                alerts = None
        else:
            alerts = ()
        self.post_message(PromNodeRead(gpus, alerts))

    def on_prom_node_read(self, message: PromNodeRead) -> None:
        self.gpus, self.alerts = message.gpus, message.alerts
        self.catch_up()
        self.set_timer(self.ops_app.base_interval, self._due)

    def _due(self) -> None:
        if self.is_current and not self.ops_app.paused:
            self.read_node()
        else:
            self._waiting = True

    def refresh_now(self) -> None:
        self.read_node()

    def catch_up(self) -> None:
        if self._waiting:
            self.read_node()
        self.show_status()
        fleet = self.session.prom_fleet
        figures = fleet.figures.get(self.node.name) if fleet is not None else None
        self.set_text("#prom-node-vitals", vitals_text(figures))
        gpus = self.gpus
        if gpus is None:
            note = Text("reading this node's GPU series…", style="dim")
        elif gpus.status != "ok":
            note = line(f"no GPU readings: {gpus.error or gpus.status}", "yellow")
        else:
            note = Text(f"{len(gpus.gpus)} GPUs, as DCGM (or the simulator) last reported them", style="dim")
        self.set_text("#prom-gpu-note", note)
        # Each GPU's colour: the same per-GPU comparison the SSH node screen uses (console/checks/levels).
        levels = node_levels(self.node, NodeSnapshot(self.node.name, self.session.now(), True, gpu=gpus), ())
        self.query_one(GpuTable).show(gpus, lambda index, metric: (), levels)
        self.set_text("#prom-node-alerts", alerts_text(self.alerts))
        self.query_one(ChecksTable).show(self.session.verdict(self.node).results)

    def show_status(self) -> None:
        node, snapshot = self.node, self.session.latest.get(self.node.name)
        verdict = self.session.verdict(node)
        view = NodeView(node, snapshot, verdict.results, levels=verdict.levels)
        text = Text.assemble(Text(node.name, style="bold"), "  ", state_cell(view), "  ")
        text.append(NO_SSH, style="bold yellow")
        if snapshot is not None and snapshot.error:
            text.append("\n")
            text.append_text(line(snapshot.error, "red"))
        self.set_text("#prom-node-status", text)

    def action_back(self) -> None:
        self.app.pop_screen()
