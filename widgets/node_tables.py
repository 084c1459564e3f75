"""The node screen's Containers, Mounts and Services tables. Render only: the screen hands them data."""

from __future__ import annotations

import ipaddress
from datetime import datetime

from rich.text import Text

from console.model.basics import NodeBasics, short_bytes
from console.model.checks import Status
from console.model.docker import ContainerCost, ContainerInfo, DockerSnapshot, PublishedPort
from console.model.inventory import Node, ServiceSpec
from console.model.levels import NodeLevels
from console.model.mounts import MountsSnapshot, MountStatus
from console.model.services import BindFinding, ProbeResult, ServicesSnapshot
from widgets.keyed_table import Column, KeyedTable
from widgets.status import DASH, duration, latency, level_style

STATE = {
    "running": ("●", "green"),
    "restarting": ("↻", "bold red"),
    "paused": ("⏸", "yellow"),
    "created": ("○", "dim"),
    "exited": ("✖", "bold red"),
    "dead": ("✖", "bold red"),
    "removing": ("…", "dim"),
}
HEALTH = {"healthy": ("♥", "green"), "unhealthy": ("✖", "bold red"), "starting": ("…", "yellow")}


def is_public(port: PublishedPort) -> bool:
    """Published on every address (0.0.0.0, ::): reachable from anywhere the node is."""
    try:
        return ipaddress.ip_address(port.host_ip or "0.0.0.0").is_unspecified
    except ValueError:
        return False


def ports_text(ports: tuple[PublishedPort, ...]) -> Text:
    """'127.0.0.1:11434→11434', and a 0.0.0.0 binding in bold red with the word PUBLIC."""
    if not ports:
        return DASH
    text = Text()
    for number, port in enumerate(ports):
        if number:
            text.append(", ")
        host = f"[{port.host_ip}]" if ":" in port.host_ip else port.host_ip
        label = f"{host}:{port.host_port}→{port.container_port}"
        label += "" if port.protocol == "tcp" else f"/{port.protocol}"
        if is_public(port):
            text.append(f"⚠ PUBLIC {label}", style="bold red")
        else:
            text.append(label)
    return text


def cost_cells(cost: ContainerCost | None) -> dict[str, Text]:
    """CPU % (of one core, with its --cpus limit) and memory used/limit from the container's cgroup."""
    if cost is None:
        return {"cpu": DASH, "mem": DASH}
    cpu = Text("–", style="dim") if cost.cpu_pct is None else Text(f"{cost.cpu_pct:.0f}%")
    if cost.cpu_limit is not None:
        cpu.append(f"/{cost.cpu_limit:g}", style="dim")
    cpu.justify = "right"
    mem = Text("–", style="dim") if cost.mem_used_bytes is None else Text(short_bytes(cost.mem_used_bytes))
    if cost.mem_limit_bytes is not None:
        mem.append(f"/{short_bytes(cost.mem_limit_bytes)}", style="dim")
    mem.justify = "right"
    return {"cpu": cpu, "mem": mem}


def exit_cell(container: ContainerInfo) -> Text:
    if container.exit_code is None:
        return DASH
    return Text(
        str(container.exit_code), style="" if container.exit_code == 0 else "bold red", justify="right"
    )


def container_cells(
    container: ContainerInfo,
    now: datetime,
    restarts_level: Status | None = None,
    cost: ContainerCost | None = None,
) -> dict[str, Text]:
    """One container's row; `restarts_level` is the checks' verdict on its restart count, `cost` what its
    cgroup says it costs (running containers only)."""
    icon, style = STATE.get(container.state, ("?", "yellow"))
    health = HEALTH.get(container.health or "")
    restarts = container.restart_count
    if restarts is None:
        restart_text = DASH
    else:
        restart_text = Text(str(restarts), style=level_style(restarts_level), justify="right")
    running = container.state == "running" and container.started_at is not None
    compose = f"{container.compose_project}/{container.compose_service}" if container.compose_project else ""
    return {
        "name": Text(container.name, style="bold"),
        "state": Text(f"{icon} {container.state}", style=style),
        "health": Text(f"{health[0]} {container.health}", style=health[1]) if health else DASH,
        "uptime": Text(duration((now - container.started_at).total_seconds()), justify="right")  # type: ignore[operator]
        if running
        else DASH,
        "restarts": restart_text,
        "exit": exit_cell(container),
        **cost_cells(cost),
        "ports": ports_text(container.ports),
        "image": Text(container.image, style="dim"),
        "compose": Text(compose) if compose else DASH,
    }


class ContainersTable(KeyedTable):
    COLUMNS = (
        Column("name", "Container", 14, 0, keep=True),
        Column("state", "State", 12, 0, keep=True),
        Column("health", "Health", 11, 2),
        Column("uptime", "Up", 6, 3),
        Column("restarts", "Rst", 3, 1),
        Column("exit", "Exit", 4, 2),
        Column("cpu", "CPU", 8, 3),  # a container's own cost makes way for whole ports at 80 columns
        Column("mem", "Mem", 11, 3),
        Column("ports", "Ports", 16, 1, flex=True, keep=True),  # a PUBLIC binding is what matters most
        Column("image", "Image", 30, 5),
        Column("compose", "Compose", 16, 6),
    )

    def show(
        self,
        docker: DockerSnapshot | None,
        now: datetime,
        levels: NodeLevels,
        basics: NodeBasics | None = None,
    ) -> None:
        """The containers, with their cgroups' cost from the node's basics (`basics.containers`)."""
        containers = docker.containers if docker is not None else ()
        costs = {cost.id: cost for cost in basics.containers} if basics is not None else {}
        self.sync(
            {
                c.name: container_cells(c, now, levels.restart_level(c.name), costs.get(c.id))
                for c in containers
            }
        )


def mount_cells(status: MountStatus) -> dict[str, Text]:
    spec, entry = status.spec, status.entry
    if entry is None:
        actual = Text("✖ not mounted", style="bold red")
    elif status.source_ok is False or status.fstype_ok is False:
        actual = Text(f"▲ {entry.source} ({entry.fstype})", style="bold yellow")
    else:
        actual = Text(f"● {entry.source}", style="green")
    if status.mode is None:
        mode = Text(spec.mode or "–", style="dim")
    elif status.mode_ok is False:
        mode = Text(f"✖ {status.mode} (want {spec.mode})", style="bold red")
    else:
        mode = Text(status.mode)
    if status.responsive == "ok":
        answer = Text.assemble(("● ok ", "green"), latency(status.latency_s))
    elif status.responsive == "hung":
        answer = Text("✖ HUNG", style="bold red")
    elif status.responsive == "error":
        answer = Text(f"✖ {'unusable' if status.fatal else 'error'}", style="bold red")
    else:
        answer = DASH
    if status.server == "reachable":
        server = Text("● reachable", style="green")
    elif status.server == "unreachable":
        server = Text("✖ unreachable", style="bold red")
    else:
        server = DASH
    detail = status.probe_detail or status.server_detail or ""
    return {
        "path": Text(spec.path, style="bold"),
        "expected": Text(spec.source or "any", style="dim" if spec.source is None else ""),
        "actual": actual,
        "mode": mode,
        "responsive": answer,
        "server": server,
        "detail": Text(detail, style="dim"),
    }


class MountsTable(KeyedTable):
    COLUMNS = (
        Column("path", "Mount", 14, 0, keep=True),
        Column("expected", "Expected", 22, 3),
        Column("actual", "Actual", 26, 1),
        Column("mode", "Mode", 4, 1),
        Column("responsive", "Responds", 14, 0, keep=True),
        Column("server", "Server", 13, 2),
        Column("detail", "Detail", 12, 4, flex=True),
    )

    def show(self, mounts: MountsSnapshot | None) -> None:
        if mounts is None:
            self.sync({})
            return
        rows = {status.spec.path: mount_cells(status) for status in mounts.mounts}
        for entry in mounts.extra_network_mounts:
            rows[entry.mount_point] = {
                "path": Text(entry.mount_point),
                "expected": Text("not in inventory", style="dim"),
                "actual": Text(f"● {entry.source}"),
                "mode": Text(entry.mode or "–"),
            }
        self.sync(rows)


def service_cells(
    spec: ServiceSpec, probe: ProbeResult | None, finding: BindFinding | None
) -> dict[str, Text]:
    if spec.http is None:
        status = Text("not probed", style="dim")
    elif probe is None:
        status = DASH
    elif probe.outcome == "ok":
        status = Text(f"● {probe.status_code} ok", style="green")
    elif probe.outcome == "unexpected_status":
        status = Text(f"✖ {probe.status_code}", style="bold red")
    else:
        status = Text(f"✖ {probe.outcome.replace('_', ' ')}", style="bold red")
    if finding is None:
        bind = Text("not audited", style="dim")
    elif finding.verdict == "exposed":
        bind = Text(f"⚠ EXPOSED {', '.join(finding.exposed)}", style="bold red")
    elif finding.verdict == "not_listening":
        bind = Text("▲ not listening", style="bold yellow")
    else:
        bind = Text(f"● {finding.expected}", style="green")
    return {
        "name": Text(spec.name, style="bold"),
        "port": Text(str(spec.port), justify="right"),
        "status": status,
        "latency": latency(probe.latency_s) if probe is not None else DASH,
        "bind": bind,
        "container": Text(spec.container) if spec.container else DASH,
        "detail": Text(
            (finding.detail if finding and finding.verdict != "ok" else None)
            or (probe.detail if probe else ""),
            style="dim",
        ),
    }


class ServicesTable(KeyedTable):
    COLUMNS = (
        Column("name", "Service", 12, 0, keep=True),
        Column("port", "Port", 5, 0, keep=True),
        Column("status", "Probe", 12, 0, keep=True),
        Column("latency", "Latency", 9, 1),
        Column("bind", "Bind audit", 18, 0),
        Column("container", "Container", 12, 3),
        Column("detail", "Detail", 12, 2, flex=True),
    )

    def show(self, node: Node, services: ServicesSnapshot | None, levels: NodeLevels) -> None:
        """The inventory's services with their probes and the checks' bind audit (`levels.binds`)."""
        probes = {probe.service: probe for probe in services.probes} if services is not None else {}
        self.sync(
            {
                spec.name: service_cells(spec, probes.get(spec.name), levels.bind(spec.name))
                for spec in node.services
            }
        )
