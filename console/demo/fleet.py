"""The demo: a deterministic recorded fleet, built from real H100 captures (console/demo/data/, package data;
the same files as tests/fixtures/gpu/h100-80gb-hbm3/, which tests/fixtures/gpu/README.md describes).

Every GPU reading is a row nvidia-smi really printed (idle, or one of the five rows under load), given the
index, UUID and PCI address of the board it stands for; which row a board shows at a moment follows a fixed
duty cycle, so sparklines have shape and every run draws the same picture. The clock is fixed at `AT`.
Containers, mounts and services are written the way the collectors return them for such a fleet.

`recorded_fleet()` is the eight-node showcase, every state a screen has to show: a node under load with its
GPU processes in a container, a missing GPU, a crash-looping and an unhealthy container, a port published on
0.0.0.0, a hung NFS mount, a slow node, a node without GPU tooling and a node that is down.
`recorded_fleet(100)` adds generated rack nodes after them (the benchmark's fleet). `opsconsole --demo` runs
the console on it; the TUI tests and snapshots use it too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from console.collectors.docker_model import ContainerInfo, DockerSnapshot, EngineInfo, Health, PublishedPort
from console.collectors.gpu import GpuReading, GpuSnapshot, parse_query_gpu, parse_query_gpu_series
from console.collectors.gpu_processes import parse_compute_apps
from console.collectors.listeners import Listener
from console.collectors.mountinfo import MountEntry
from console.collectors.mounts import MountsSnapshot, MountStatus, Reachability, Responsive, ServerStatus
from console.collectors.services import ProbeResult, ServicesSnapshot
from console.demo.logs import recorded_logs
from console.demo.prometheus import recorded_prometheus
from console.demo.sources import RecordedActions, RecordedPrometheus, RecordedSource
from console.demo.vitals import recorded_basics
from console.inventory.model import (
    DockerSettings,
    GpuExpectation,
    HttpProbe,
    Inventory,
    MountMode,
    MountSpec,
    Node,
    PrometheusSettings,
    ServiceSpec,
)
from console.session import ConsoleSession
from console.snapshots import NodeSnapshot

AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
STEP = timedelta(seconds=2)
PAST = 30  # recorded polls per node, the last one at AT
CAPTURES = Path(__file__).resolve().parent / "data" / "h100-80gb-hbm3"  # installed with the package
SHOWCASE = 8
CONNECTED = timedelta(hours=3, minutes=12)  # how long before AT each reachable node's connection was made
ENGINE = EngineInfo("27.5.1", "1.47", ("io.containerd.runc.v2", "nvidia", "runc"), "runc", True, (), False)


def fixed_clock() -> datetime:
    return AT


@dataclass(frozen=True, slots=True)
class Captures:
    """The real nvidia-smi output the fleet is made of."""

    idle: GpuReading
    load: tuple[GpuReading, ...]
    apps_csv: str

    @classmethod
    def read(cls, directory: Path = CAPTURES) -> Captures:
        idle = parse_query_gpu((directory / "idle-query-gpu-noheader-nounits.csv").read_text())
        load = parse_query_gpu_series((directory / "load-query-gpu-series.csv").read_text())
        return cls(idle[0], load, (directory / "load-compute-apps.csv").read_text())


@dataclass(frozen=True, slots=True)
class RecordedFleet:
    inventory: Inventory
    source: RecordedSource
    past: dict[str, tuple[NodeSnapshot, ...]]  # each node's recorded polls, oldest first, the last at AT
    prometheus: RecordedPrometheus
    actions: RecordedActions

    def session(self, *, seed: bool = True, **options: Any) -> ConsoleSession:
        """A console session on this fleet with the fixed clock; `seed` loads the recorded past (history)."""
        session = ConsoleSession(
            self.inventory,
            self.source,
            prometheus=self.prometheus,
            actions=self.actions,
            clock=fixed_clock,
            **options,
        )
        if seed:
            for series in self.past.values():
                session.seed(series)
        return session


@dataclass(frozen=True, slots=True)
class _Plan:
    node: Node
    boards: int  # GPUs the node reports; -1: no GPU tooling; -2: unreachable
    offset: int  # duty-cycle phase
    containers: tuple[ContainerInfo, ...] = ()
    owner: str | None = None  # the container whose processes hold the busy GPUs
    mounts: MountsSnapshot | None = None
    services: ServicesSnapshot | None = None
    connect_s: float = 0.04
    error: str | None = None


def container_id(node: str, name: str) -> str:
    """The recorded container's 64-hex id (stable: derived from node and name)."""
    return hashlib.sha256(f"opsconsole-recorded/{node}/{name}".encode()).hexdigest()


def _board(reading: GpuReading, index: int) -> GpuReading:
    """The captured reading as board `index` of a node: its own index, UUID and PCI address."""
    return replace(
        reading,
        index=index,
        uuid=reading.uuid[:-2] + f"{index:02x}",
        pci_bus_id=f"00000000:{0x18 + 16 * index:02X}:00.0",
    )


def busy(step: int, offset: int) -> bool:
    """The duty cycle: 7 polls of load out of every 12."""
    return (step + offset) % 12 < 7


def _gpu(plan: _Plan, captures: Captures, step: int, at: datetime) -> GpuSnapshot:
    name = plan.node.name
    if plan.boards == -1:
        return GpuSnapshot(name, at, "nvidia-smi", "no_tooling", error="no GPU tooling: nvidia-smi not found")
    app = parse_compute_apps(captures.apps_csv)[0]
    readings, processes = [], []
    for index in range(plan.boards):
        loaded = busy(step, plan.offset + 3 * index)
        row = captures.load[(step + index) % len(captures.load)] if loaded else captures.idle
        reading = _board(row, index)
        readings.append(reading)
        if loaded:
            owner = container_id(name, plan.owner) if plan.owner else None
            # alone on its board, the process has the board's utilisation (what pmon shows for it)
            processes.append(
                replace(
                    app,
                    pid=app.pid + 101 * index,
                    gpu_uuid=reading.uuid,
                    container_id=owner,
                    sm_pct=reading.util_gpu_pct,
                    mem_bw_pct=reading.util_mem_pct,
                    kind="C",
                )
            )
    return GpuSnapshot(
        name, at, "nvidia-smi", "ok", tuple(readings), duration_s=0.031, processes=tuple(processes)
    )


def _snapshot(plan: _Plan, captures: Captures, step: int) -> NodeSnapshot:
    at = AT - STEP * (PAST - 1 - step)
    name = plan.node.name
    if plan.boards == -2:
        return NodeSnapshot(name, at, False, error=plan.error)
    docker = None
    if plan.node.docker is not None:
        docker = DockerSnapshot(name, at, ENGINE, plan.containers, duration_s=0.012)
    return NodeSnapshot(
        name,
        at,
        True,
        gpu=_gpu(plan, captures, step, at),
        connect_s=plan.connect_s,
        connected_at=AT - CONNECTED,
        services=replace(plan.services, taken_at=at) if plan.services else None,
        mounts=replace(plan.mounts, taken_at=at) if plan.mounts else None,
        docker=docker,
        basics=recorded_basics(name, plan.containers, step, at, busy(step, plan.offset)),
    )


def _container(
    node: str,
    name: str,
    image: str,
    *,
    state: str = "running",
    health: Health | None = None,
    restarts: int | None = 0,
    up: timedelta = timedelta(days=3, hours=4),
    ports: tuple[tuple[str, int, int], ...] = (),
    compose: tuple[str, str] | None = None,
) -> ContainerInfo:
    if state == "running":
        status = f"Up {up.days} days" if up.days else f"Up {up.seconds // 60} minutes"
        status += f" ({health})" if health else ""
    elif state == "restarting":
        status = "Restarting (1) 4 seconds ago"
    else:
        status = "Exited (1) 2 hours ago"
    return ContainerInfo(
        id=container_id(node, name),
        name=name,
        image=image,
        state=state,
        status=status,
        health=health,
        restart_count=restarts,
        ports=tuple(PublishedPort(ip, host, inner, "tcp") for ip, host, inner in ports),
        started_at=AT - up if state in ("running", "restarting") else None,
        compose_project=compose[0] if compose else None,
        compose_service=compose[1] if compose else None,
        exit_code=1 if state in ("exited", "restarting") else None,
    )


MountRow = tuple[str, str, MountMode, Responsive, float | None, Reachability]


def _mounts(node: str, rows: tuple[MountRow, ...]) -> MountsSnapshot:
    """rows: (path, source, mode, responsive, latency_s, server reachability)."""
    statuses, servers = [], {}
    for index, (path, source, mode, responsive, latency, server) in enumerate(rows):
        host = source.split(":", 1)[0]
        ok = server == "reachable"
        detail = "port 2049 open (1 ms); rpcinfo: NFS v3, v4" if ok else "no answer on port 2049 within 5s"
        servers[host] = ServerStatus(host, server, detail, 0.001 if ok else None)
        entry = MountEntry(
            40 + index,
            1,
            f"0:{52 + index}",
            "/",
            path,
            (mode, "relatime"),
            "nfs4",
            source,
            (mode, "vers=4.2"),
        )
        hung = responsive == "hung"
        statuses.append(
            MountStatus(
                MountSpec(path, source, mode, "nfs4"),
                entry,
                source_ok=True,
                fstype_ok=True,
                mode=mode,
                mode_ok=True,
                responsive=responsive,
                latency_s=latency,
                probe_detail="no answer to statfs within 5s" if hung else None,
                server=server,
                server_detail=detail,
            )
        )
    return MountsSnapshot(node, AT, tuple(statuses), (), tuple(servers.values()), duration_s=0.02)


def _services(
    node: str, specs: tuple[ServiceSpec, ...], answers: dict[str, int], listen: tuple[str, ...]
) -> ServicesSnapshot:
    probes = []
    for spec in specs:
        http = spec.http or HttpProbe()
        url = f"{http.scheme}://127.0.0.1:{spec.port}{http.path}"
        status = answers[spec.name]
        if status == http.expect:
            probes.append(ProbeResult(spec.name, status, 0.0042, "ok", f"HTTP {status} OK in 4.2 ms", url))
        else:
            detail = f"HTTP {status}, expected {http.expect}"
            probes.append(ProbeResult(spec.name, status, 0.0311, "unexpected_status", detail, url))
    listeners = tuple(
        Listener(address.rsplit(":", 1)[0], int(address.rsplit(":", 1)[1]), "ipv4") for address in listen
    )
    return ServicesSnapshot(node, AT, tuple(probes), listeners, duration_s=0.05)


def _gpu1(refresh: float) -> _Plan:
    services = (
        ServiceSpec("comfyui", 8188, container="comfyui", bind="127.0.0.1", http=HttpProbe("/")),
        ServiceSpec("ollama", 11434, container="ollama", bind="127.0.0.1", http=HttpProbe("/api/version")),
        ServiceSpec("open-webui", 3000, container="open-webui", bind="127.0.0.1", http=HttpProbe("/health")),
    )
    node = Node(
        "gpu1",
        "10.60.0.20",
        groups=("compute",),
        gpus=GpuExpectation(count=1, model="H100"),
        refresh=refresh,
        docker=DockerSettings(containers=("comfyui", "ollama", "open-webui")),
        mounts=(
            MountSpec("/mnt/models", "atlas:/export/models", "ro", "nfs4"),
            MountSpec("/mnt/scratch", "atlas:/export/scratch", "rw", "nfs4"),
        ),
        services=services,
    )
    containers = (
        _container(
            "gpu1",
            "comfyui",
            "ghcr.io/ai-dock/comfyui:v2-cuda-12.1",
            health="healthy",
            ports=(("0.0.0.0", 8188, 8188),),
            compose=("ai", "comfyui"),
        ),
        _container(
            "gpu1",
            "ollama",
            "ollama/ollama:0.5.7",
            ports=(("127.0.0.1", 11434, 11434),),
            compose=("ai", "ollama"),
        ),
        _container(
            "gpu1",
            "open-webui",
            "ghcr.io/open-webui/open-webui:main",
            health="unhealthy",
            restarts=3,
            up=timedelta(minutes=12),
            ports=(("127.0.0.1", 3000, 8080),),
            compose=("ai", "open-webui"),
        ),
        _container("gpu1", "watchtower", "containrrr/watchtower:1.7.1", state="exited", restarts=None),
    )
    mounts = _mounts(
        "gpu1",
        (
            ("/mnt/models", "atlas:/export/models", "ro", "ok", 0.0031, "reachable"),
            ("/mnt/scratch", "atlas:/export/scratch", "rw", "ok", 0.0047, "reachable"),
        ),
    )
    listen = ("0.0.0.0:22", "0.0.0.0:8188", "127.0.0.1:11434", "127.0.0.1:3000")
    answers = {"comfyui": 200, "ollama": 200, "open-webui": 502}
    return _Plan(node, 1, 0, containers, "comfyui", mounts, _services("gpu1", services, answers, listen))


def _rack_node(
    name: str,
    group: str,
    refresh: float,
    offset: int,
    *,
    boards: int = 4,
    expect: int = 4,
    trainer: str = "running",
) -> _Plan:
    node = Node(
        name,
        f"10.70.{ord(group[-1]) - 96}.{10 + offset}",
        groups=(group,),
        gpus=GpuExpectation(count=expect, model="H100"),
        refresh=refresh,
        docker=DockerSettings(containers=("trainer",)),
        mounts=(MountSpec("/mnt/models", "atlas:/export/models", "ro", "nfs4"),),
    )
    restarts = 7 if trainer == "restarting" else 0
    containers = (
        _container(
            name,
            "trainer",
            "nvcr.io/nvidia/pytorch:24.12-py3",
            state=trainer,
            restarts=restarts,
            up=timedelta(hours=9),
        ),
        _container(name, "node-exporter", "prom/node-exporter:v1.8.2", ports=(("127.0.0.1", 9100, 9100),)),
    )
    mounts = _mounts(
        name, (("/mnt/models", "atlas:/export/models", "ro", "ok", 0.0029 + offset / 10000, "reachable"),)
    )
    return _Plan(node, boards, offset, containers, "trainer", mounts)


def showcase_plans(refresh: float) -> list[_Plan]:
    pod7 = Node(
        "pod-7", "203.0.113.7", groups=("pods",), gpus=GpuExpectation(count=1), refresh=refresh,
        mounts=(MountSpec("/mnt/datasets", "atlas:/export/datasets", "ro", "nfs4"),),
    )  # fmt: skip
    pod7_mounts = _mounts(
        "pod-7", (("/mnt/datasets", "atlas:/export/datasets", "ro", "hung", None, "unreachable"),)
    )
    return [
        _gpu1(refresh),
        _rack_node("rack-a1", "rack-a", refresh, 1),
        _rack_node("rack-a2", "rack-a", refresh, 5, boards=3, trainer="restarting"),
        _rack_node("rack-b1", "rack-b", refresh, 8),
        _Plan(pod7, 1, 4, mounts=pod7_mounts),
        _Plan(
            Node("pod-8", "203.0.113.8", groups=("pods",), gpus=GpuExpectation(count=1), refresh=refresh),
            1,
            9,
            connect_s=4.8,
        ),
        _Plan(Node("atlas", "10.60.0.10", groups=("storage",), refresh=refresh), -1, 0),
        _Plan(
            Node("cerberus", "10.60.0.1", groups=("edge",), refresh=refresh),
            -2,
            0,
            error="10.60.0.1:22: connection refused",
        ),
    ]


def rack_plans(count: int, refresh: float) -> list[_Plan]:
    """Generated nodes for a large fleet: racks c, d, e, … of ten 4-GPU nodes each."""
    plans = []
    for number in range(count):
        rack = chr(ord("c") + number // 10)
        plans.append(_rack_node(f"rack-{rack}{number % 10 + 1:02d}", f"rack-{rack}", refresh, number % 12))
    return plans


def recorded_fleet(
    nodes: int = SHOWCASE, *, captures: Path = CAPTURES, refresh: float = 3600.0, moving: bool = False
) -> RecordedFleet:
    """The showcase, then generated rack nodes up to `nodes`, each refreshing every `refresh` seconds.

    The source answers every poll with the node's latest recording (at AT); with `moving`, each poll takes
    the next of the node's recorded polls instead, so the values change at every refresh (benchmarks).
    """
    data = Captures.read(captures)
    plans = [*showcase_plans(refresh), *rack_plans(max(0, nodes - SHOWCASE), refresh)][: max(nodes, 1)]
    past = {plan.node.name: tuple(_snapshot(plan, data, step) for step in range(PAST)) for plan in plans}
    inventory = Inventory(
        "recorded",
        "recorded",
        tuple(plan.node for plan in plans),
        PrometheusSettings("http://10.60.0.20:9090", via="gpu1"),
    )
    latest = {name: series[-1] for name, series in past.items()}
    source = RecordedSource(latest, series=past if moving else None)
    logs, follow = recorded_logs()
    actions = RecordedActions(source, logs=logs, follow=follow, clock=fixed_clock)
    prometheus = recorded_prometheus(inventory, past, AT)
    return RecordedFleet(inventory, source, past, prometheus, actions)
