"""The fleet table: one row per node, keyed by node name, updated cell by cell. Renders only."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from console.inventory.model import Node
from console.snapshots import NodeSnapshot

DASH = Text("–", style="dim")

# (key, label, width): the first columns matter most on a narrow terminal.
COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("node", "Node", None),
    ("state", "State", 9),
    ("gpus", "GPUs", 4),
    ("util", "Util", 5),
    ("memory", "Memory", 15),
    ("temp", "Temp", 6),
    ("power", "Power", 13),
    ("detail", "Detail", None),
)


def _or_dash(value: float | None, template: str) -> Text:
    return DASH if value is None else Text(template.format(value), justify="right")


def node_cells(node: Node, snapshot: NodeSnapshot | None) -> dict[str, Text]:
    """What each column shows for one node; status words, not colour alone, carry the meaning."""
    cells = {key: DASH for key, _, _ in COLUMNS}
    cells["node"] = Text(node.name, style="bold")
    if snapshot is None:
        cells["state"] = Text("… wait", style="dim")
        cells["detail"] = Text(node.host, style="dim")
        return cells
    if not snapshot.reachable:
        cells["state"] = Text("✖ down", style="bold red")
        cells["detail"] = Text(snapshot.error or "unreachable", style="red")
        return cells
    cells["state"] = Text("● up", style="green")
    gpu = snapshot.gpu
    if gpu is None or gpu.status != "ok":
        message = (gpu.error if gpu is not None else None) or "no GPU data"
        style = "dim" if gpu is not None and gpu.status == "no_tooling" else "yellow"
        cells["detail"] = Text(message, style=style)
        cells["gpus"] = Text("0", justify="right") if gpu is not None and gpu.status == "no_tooling" else DASH
        return cells
    readings = gpu.gpus
    cells["gpus"] = Text(str(len(readings)), justify="right")
    utils = [r.util_gpu_pct for r in readings if r.util_gpu_pct is not None]
    cells["util"] = _or_dash(sum(utils) / len(utils) if utils else None, "{:.0f}%")
    used = [r.memory_used_mib for r in readings if r.memory_used_mib is not None]
    total = [r.memory_total_mib for r in readings if r.memory_total_mib is not None]
    if used and total:
        cells["memory"] = Text(f"{sum(used) / 1024:.1f}/{sum(total) / 1024:.0f} GiB", justify="right")
    temps = [r.temperature_c for r in readings if r.temperature_c is not None]
    if temps:
        hottest = max(temps)
        style = (
            "bold red"
            if hottest >= node.thresholds.gpu_temperature.crit
            else ("yellow" if hottest >= node.thresholds.gpu_temperature.warn else "")
        )
        cells["temp"] = Text(f"{hottest:.0f}°C", style=style, justify="right")
    draws = [r.power_draw_w for r in readings if r.power_draw_w is not None]
    limits = [r.power_limit_w for r in readings if r.power_limit_w is not None]
    if draws:
        text = f"{sum(draws):.0f}/{sum(limits):.0f} W" if limits else f"{sum(draws):.0f} W"
        cells["power"] = Text(text, justify="right")
    names = sorted({r.name for r in readings})
    cells["detail"] = Text(", ".join(names) if names else "no GPUs", style="dim" if not names else "")
    return cells


class FleetTable(DataTable[Text]):
    """Rows keyed by node name. `show_node` changes only the cells whose text changed."""

    DEFAULT_CSS = """
    FleetTable {
        height: 1fr;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._shown: dict[str, dict[str, tuple[str, str]]] = {}

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width)

    def show_node(self, node: Node, snapshot: NodeSnapshot | None) -> None:
        cells = node_cells(node, snapshot)
        # Text equality ignores the base style, so compare what is seen: the words and their style.
        seen = {key: (text.plain, str(text.style)) for key, text in cells.items()}
        shown = self._shown.get(node.name)
        if shown is None:
            self.add_row(*(cells[key] for key, _, _ in COLUMNS), key=node.name)
            self._shown[node.name] = seen
            return
        for key, text in cells.items():
            if shown.get(key) != seen[key]:
                self.update_cell(node.name, key, text, update_width=key == "detail")
                shown[key] = seen[key]
