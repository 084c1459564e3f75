"""The node screen's Containers tab on a CRI-O node: its containers as crictl lists them (namespace, pod,
container, state, restarts, created). Render only: the snapshot comes parsed (console.model.cri), the
restart levels judged by the container checks (their targets: `namespace/pod/container`, or the name the
inventory watches)."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text

from console.model.cri import CriContainer, CriSnapshot
from console.model.levels import NodeLevels
from widgets.keyed_table import Column, KeyedTable
from widgets.node_tables import STATE
from widgets.status import DASH, duration, level_style


def cri_target(container: CriContainer) -> str:
    return f"{container.namespace}/{container.pod}/{container.name}"


def cri_cells(container: CriContainer, now: datetime, levels: NodeLevels) -> dict[str, Text]:
    icon, style = STATE.get(container.state, ("?", "yellow"))
    level = levels.restart_level(cri_target(container)) or levels.restart_level(container.name)
    restarts = (
        DASH
        if container.restarts is None
        else Text(str(container.restarts), style=level_style(level), justify="right")
    )
    age = (
        Text(duration(max((now - container.created_at).total_seconds(), 0)), justify="right")
        if container.created_at is not None
        else DASH
    )
    return {
        "namespace": Text(container.namespace or "?", style="dim"),
        "pod": Text(container.pod or container.pod_id[:13]),
        "name": Text(container.name, style="bold"),
        "state": Text(f"{icon} {container.state}", style=style),
        "restarts": restarts,
        "created": age,
        "image": Text(container.image, style="dim"),
    }


class CriContainersTable(KeyedTable):
    """One row per container (its newest attempt), keyed by its id. Hidden until the node is a CRI-O one."""

    DEFAULT_CSS = "CriContainersTable { display: none; }"

    COLUMNS = (
        Column("namespace", "Namespace", 10, 1),
        Column("pod", "Pod", 14, 0, keep=True),
        Column("name", "Container", 12, 0, keep=True),
        Column("state", "State", 10, 0),
        Column("restarts", "Rst", 3, 0),
        Column("created", "Created", 7, 2),
        Column("image", "Image", 20, 3, flex=True),
    )

    def show(self, cri: CriSnapshot | None, now: datetime, levels: NodeLevels) -> None:
        containers = cri.containers if cri is not None else ()
        rows = {c.id: cri_cells(c, now, levels) for c in containers}
        self.sync(rows)
        self.order(rows)
