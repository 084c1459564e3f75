"""A recorded fleet whose nodes answer like an attacker's: every string a node controls carries terminal
escape sequences (OSC 0 retitles the window, OSC 52 writes the clipboard, CSI 2J clears the screen), BEL,
Rich/Textual markup (including an `@click` action) and newlines.

The values are given to the screens raw, as a collector that forgot console/text.py would: the TUI must show
them as visible text whatever path they took. Used by tests/test_tui_hostile.py; `HOSTILE` is the payload.
A test fixture only (the demo fleet it borrows from, console/demo/, is a product feature).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from console.collectors.docker_model import ContainerInfo, DockerSnapshot, PublishedPort
from console.collectors.gpu import GpuSnapshot
from console.collectors.mountinfo import MountEntry
from console.collectors.mounts import MountsSnapshot, MountStatus, ServerStatus
from console.collectors.prometheus import AlertInfo, TargetInfo
from console.collectors.services import ProbeResult, ServicesSnapshot
from console.demo.fleet import AT, ENGINE, Captures, RecordedFleet, container_id, fixed_clock
from console.demo.sources import RecordedActions, RecordedPrometheus, RecordedSource
from console.inventory.model import (
    DockerSettings,
    GpuExpectation,
    HttpProbe,
    Inventory,
    MountSpec,
    Node,
    PrometheusSettings,
    ServiceSpec,
)
from console.snapshots import NodeSnapshot

OSC_TITLE = "\x1b]0;pwned\x07"
OSC_CLIPBOARD = "\x1b]52;c;ZWNobyBoaQ==\x07"
CLEAR = "\x1b[2J\x1b[H"
MARKUP = "[/]x[@click=app.quit]y[bold red]z"
HOSTILE = f"{OSC_TITLE}{OSC_CLIPBOARD}{CLEAR}{MARKUP}\nforged line\a"
CONTAINER = f"[/]x[@click=app.quit]y{OSC_TITLE}"  # a container's name (and the Cmd the issue found)


def _node(name: str, host: str, **extra: object) -> Node:
    return Node(name, host, groups=("hostile",), refresh=3600.0, **extra)  # type: ignore[arg-type]


def hostile_fleet() -> RecordedFleet:
    """Two nodes: `evil` answers every poll with hostile strings, `gone` is down with a hostile error."""
    services = (ServiceSpec("api", 8080, http=HttpProbe("/")),)
    evil = _node(
        "evil",
        "10.66.0.1",
        gpus=GpuExpectation(count=1),
        docker=DockerSettings(),
        mounts=(MountSpec("/mnt/models", "atlas:/export/models", "ro", "nfs4"),),
        services=services,
    )
    gone = _node("gone", "10.66.0.2")
    reading = replace(Captures.read().idle, name=f"NVIDIA {HOSTILE}", driver=f"580{OSC_TITLE}", pstate=CLEAR)
    gpu = GpuSnapshot("evil", AT, "nvidia-smi", "ok", (reading,), duration_s=0.03)
    container = ContainerInfo(
        id=container_id("evil", CONTAINER),
        name=CONTAINER,
        image=f"evil/{HOSTILE}",
        state="restarting",
        status=f"Restarting (1) {HOSTILE}",
        restart_count=9,
        ports=(PublishedPort(f"0.0.0.0{OSC_CLIPBOARD}", 2301, 80, "tcp"),),
        started_at=AT - timedelta(seconds=4),
        compose_project=HOSTILE,
        compose_service=HOSTILE,
    )
    docker = DockerSnapshot("evil", AT, ENGINE, (container,), duration_s=0.01)
    entry = MountEntry(40, 1, "0:52", "/", "/mnt/models", ("ro",), f"nfs4{CLEAR}", HOSTILE, ("ro",))
    mount = MountStatus(
        MountSpec("/mnt/models", "atlas:/export/models", "ro", "nfs4"),
        entry,
        source_ok=False,
        fstype_ok=False,
        mode="ro",
        mode_ok=True,
        responsive="error",
        probe_detail=HOSTILE,
        server="unreachable",
        server_detail=HOSTILE,
    )
    stranger = MountEntry(41, 1, "0:53", "/", f"/mnt/x{CLEAR}", ("rw",), "nfs4", HOSTILE, ("rw",))
    mounts = MountsSnapshot(
        "evil",
        AT,
        (mount,),
        (stranger,),
        (ServerStatus("atlas", "unreachable", HOSTILE, None),),
        duration_s=0.01,
    )
    probe = ProbeResult("api", 500, 0.01, "unexpected_status", HOSTILE, "http://127.0.0.1:8080/")
    services_snapshot = ServicesSnapshot("evil", AT, (probe,), (), duration_s=0.01)
    snapshots = {
        "evil": NodeSnapshot(
            "evil",
            AT,
            True,
            gpu=gpu,
            connect_s=0.05,
            services=services_snapshot,
            mounts=mounts,
            docker=docker,
        ),
        "gone": NodeSnapshot("gone", AT, False, error=HOSTILE),
    }
    inventory = Inventory(
        "hostile", "recorded", (evil, gone), PrometheusSettings("http://10.66.0.1:9090", via="evil")
    )
    source = RecordedSource(snapshots)
    prometheus = RecordedPrometheus(
        targets=(TargetInfo("node", f"10.66.0.1:9100{OSC_TITLE}", "down", HOSTILE, None, HOSTILE),),
        alerts=(
            AlertInfo(
                f"Evil{OSC_TITLE}",
                "firing",
                "critical",
                (("alertname", HOSTILE), ("severity", "critical")),
                HOSTILE,
                HOSTILE,
                AT - timedelta(minutes=5),
            ),
        ),
    )
    actions = RecordedActions(source, clock=fixed_clock, failures={("evil", CONTAINER): HOSTILE})
    past: dict[str, tuple[NodeSnapshot, ...]] = {name: (snapshot,) for name, snapshot in snapshots.items()}
    return RecordedFleet(inventory, source, past, prometheus, actions)
