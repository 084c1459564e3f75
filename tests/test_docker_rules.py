"""Docker rules on constructed snapshots (every check id, passing and failing), and the pure parsers behind
the snapshots (host probe, flags, /proc/net addresses, list entries) on real daemon output."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from console.checks.docker_rules import FIX_GROUP, FIX_NVIDIA, SNAP_MESSAGE, evaluate_docker, planned_docker
from console.checks.model import CheckResult, Perf, Status
from console.collectors.docker_model import (
    ContainerInfo,
    DaemonProcess,
    DockerSnapshot,
    EngineInfo,
    PublishedPort,
    decode_proc_address,
    health_from_status,
    parse_container,
    parse_engine,
    parse_host_probe,
    pick_daemon,
    tcp_listeners,
)
from console.inventory.model import DockerSettings, GpuExpectation, Node, ServiceSpec, Threshold, Thresholds

NOW = datetime(2026, 11, 22, 19, 0, tzinfo=UTC)
ENGINE = EngineInfo("20.10.24", "1.41", ("io.containerd.runc.v2", "runc"), "runc", False, (), False)


def node(containers: tuple[str, ...] = ("web",), **fields: Any) -> Node:
    return Node("gpu1", "10.0.0.1", docker=DockerSettings(containers=containers), **fields)


def box(name: str, state: str = "running", **fields: Any) -> ContainerInfo:
    defaults: dict[str, Any] = {"restart_count": 0, "status": "Up 5 minutes"}
    defaults.update(fields)
    return ContainerInfo(f"id-{name}", name, "img:1", state, **defaults)


def snap(
    *containers: ContainerInfo, engine: EngineInfo | None = ENGINE, error: str | None = None
) -> DockerSnapshot:
    return DockerSnapshot("gpu1", NOW, engine, containers, error)


def by_key(results: tuple[CheckResult, ...]) -> dict[tuple[str, str | None], CheckResult]:
    keyed = {(result.check, result.target): result for result in results}
    assert len(keyed) == len(results), "one result per (check, target)"
    return keyed


# --- planning and missing data ---------------------------------------------------------------------------


def test_only_nodes_with_a_docker_section_get_docker_checks() -> None:
    assert planned_docker(Node("n", "h")) == ()
    assert evaluate_docker(Node("n", "h"), snap()) == ()
    services = (ServiceSpec("ui", 8080, container="webui"), ServiceSpec("api", 9000, container="web"))
    planned = planned_docker(node(("web", "db"), services=services))
    assert planned == (
        ("docker.engine", None),
        ("docker.nvidia_runtime", None),
        ("docker.tcp_api", None),
        ("container.running", "web"),
        ("container.restarts", "web"),
        ("container.running", "db"),
        ("container.restarts", "db"),
        ("container.running", "webui"),
        ("container.restarts", "webui"),
    )


def test_no_snapshot_is_unknown_for_everything_planned() -> None:
    results = evaluate_docker(node(), None, reason="timed out after 60s")
    assert [(r.check, r.target) for r in results] == list(planned_docker(node()))
    assert {(r.status, r.summary) for r in results} == {(Status.UNKNOWN, "timed out after 60s")}


# --- docker.engine ---------------------------------------------------------------------------------------


def test_engine_ok_counts_running_containers() -> None:
    result = by_key(evaluate_docker(node(), snap(box("web"), box("old", "exited"))))[("docker.engine", None)]
    assert (result.status, result.summary) == (Status.OK, "Docker 20.10.24 (API 1.41), 1/2 running")
    assert result.perfdata == (Perf("containers", 2.0), Perf("running", 1.0))


def test_snap_docker_is_critical() -> None:
    result = by_key(evaluate_docker(node(), snap(box("web"), engine=replace(ENGINE, snap=True))))
    engine = result[("docker.engine", None)]
    assert (engine.status, engine.summary) == (Status.CRITICAL, SNAP_MESSAGE)
    assert engine.fix is not None


def test_unreachable_engine_is_critical_and_the_rest_skipped() -> None:
    error = "permission denied on /var/run/docker.sock: is ops in the docker group?"
    results = evaluate_docker(node(), snap(engine=None, error=error))
    engine, *rest = results
    assert (engine.check, engine.status, engine.summary, engine.fix) == (
        "docker.engine",
        Status.CRITICAL,
        error,
        FIX_GROUP,
    )
    assert [(r.check, r.target, r.status) for r in rest] == [
        (check, target, Status.SKIPPED) for check, target in planned_docker(node())[1:]
    ]
    assert {r.summary for r in rest} == {"Docker unreachable (see docker.engine)"}
    missing = evaluate_docker(
        node(), snap(engine=None, error="no Docker socket at /x.sock (is dockerd running?)")
    )
    assert missing[0].fix is not None
    assert "start dockerd" in missing[0].fix


# --- docker.nvidia_runtime -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gpus", "nvidia", "status", "summary_start"),
    [
        (GpuExpectation(count=2), False, Status.CRITICAL, "no nvidia runtime"),
        (GpuExpectation(model="H100"), False, Status.CRITICAL, "no nvidia runtime"),
        (GpuExpectation(count=2), True, Status.OK, "nvidia runtime registered"),
        (None, False, Status.OK, "not needed"),
        (GpuExpectation(count=0), False, Status.OK, "not needed"),
        (None, True, Status.OK, "nvidia runtime registered"),
    ],
)
def test_nvidia_runtime(
    gpus: GpuExpectation | None, nvidia: bool, status: Status, summary_start: str
) -> None:
    engine = replace(
        ENGINE, nvidia_runtime=nvidia, runtimes=(*ENGINE.runtimes, "nvidia") if nvidia else ENGINE.runtimes
    )
    result = by_key(evaluate_docker(node(gpus=gpus), snap(box("web"), engine=engine)))[
        ("docker.nvidia_runtime", None)
    ]
    assert result.status is status
    assert result.summary.startswith(summary_start)
    assert result.fix == (FIX_NVIDIA if status is Status.CRITICAL else None)


# --- docker.tcp_api --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("listeners", "status"),
    [((), Status.OK), (("tcp://0.0.0.0:2375",), Status.CRITICAL), (None, Status.UNKNOWN)],
)
def test_tcp_api(listeners: tuple[str, ...] | None, status: Status) -> None:
    engine = replace(ENGINE, tcp_listeners=listeners)
    result = by_key(evaluate_docker(node(), snap(box("web"), engine=engine)))[("docker.tcp_api", None)]
    assert result.status is status
    if listeners:
        assert "tcp://0.0.0.0:2375" in result.summary
        assert result.fix is not None


# --- container.running / container.restarts / container.health -------------------------------------------


@pytest.mark.parametrize(
    ("container", "status"),
    [
        (box("web"), Status.OK),
        (box("web", "restarting", status="Restarting (1) 2 seconds ago", restart_count=7), Status.CRITICAL),
        (box("web", "exited", status="Exited (137) 1 hour ago"), Status.CRITICAL),
        (box("web", "paused", status="Up 1 hour (Paused)"), Status.CRITICAL),
        (box("web", "created", status="Created", restart_count=None), Status.CRITICAL),
        (None, Status.CRITICAL),
    ],
)
def test_container_running(container: ContainerInfo | None, status: Status) -> None:
    snapshot = snap(*([container] if container else [box("other")]))
    result = by_key(evaluate_docker(node(), snapshot))[("container.running", "web")]
    assert result.status is status
    if container is None:
        assert result.summary == "no container named web"


def test_service_containers_are_checked_too() -> None:
    services = (ServiceSpec("ui", 8080, container="webui"),)
    results = by_key(evaluate_docker(node((), services=services), snap(box("webui", "exited"))))
    assert results[("container.running", "webui")].status is Status.CRITICAL


@pytest.mark.parametrize(
    ("count", "state", "status"),
    [
        (0, "running", Status.OK),
        (1, "running", Status.WARNING),
        (4, "running", Status.WARNING),
        (5, "running", Status.CRITICAL),
        (2, "restarting", Status.CRITICAL),
        (None, "exited", Status.UNKNOWN),
    ],
)
def test_container_restarts(count: int | None, state: str, status: Status) -> None:
    result = by_key(evaluate_docker(node(), snap(box("web", state, restart_count=count))))[
        ("container.restarts", "web")
    ]
    assert result.status is status
    if state == "restarting":
        assert result.summary == "restart loop (2 restarts)"
    if count is not None:
        assert result.perfdata == (Perf("restarts", float(count), "", 1.0, 5.0),)


def test_container_restart_thresholds_come_from_the_node() -> None:
    custom = node(thresholds=Thresholds(container_restarts=Threshold(warn=3, crit=10)))
    for count, status in ((2, Status.OK), (3, Status.WARNING), (10, Status.CRITICAL)):
        result = by_key(evaluate_docker(custom, snap(box("web", restart_count=count))))
        assert result[("container.restarts", "web")].status is status


@pytest.mark.parametrize(
    ("health", "status"),
    [("healthy", Status.OK), ("starting", Status.WARNING), ("unhealthy", Status.CRITICAL), (None, None)],
)
def test_container_health(health: str | None, status: Status | None) -> None:
    results = by_key(evaluate_docker(node(), snap(box("web", health=health))))
    result = results.get(("container.health", "web"))
    assert (result.status if result else None) is status


def test_health_of_a_stopped_container_is_not_reported() -> None:
    results = by_key(evaluate_docker(node(), snap(box("web", "exited", health="unhealthy"))))
    assert ("container.health", "web") not in results


def test_unlisted_containers_are_reported_only_when_in_trouble() -> None:
    snapshot = snap(
        box("web"),
        box("fine", health="healthy", restart_count=0),
        box("looping", "restarting", restart_count=9),
        box("sick", health="unhealthy"),
    )
    results = by_key(evaluate_docker(node(), snapshot))
    assert results[("container.restarts", "looping")].status is Status.CRITICAL
    assert results[("container.health", "sick")].status is Status.CRITICAL
    assert not [key for key in results if key[1] == "fine"]
    assert ("container.running", "looping") not in results  # only named containers must run


# --- the parsers -----------------------------------------------------------------------------------------

# HOST_PROBE's output on the lab (two dockerds; the second configured by daemon.json with a TCP host);
# arguments and config lines come prefixed ("a ", "c ").
PROBE = """\
@@ pid 22497
a /usr/sbin/dockerd
a --config-file
a /srv/lab/tcp/daemon.json
a --data-root
a /srv/lab/tcp/data
a --group
a opsconsole-lab
@@ config /srv/lab/tcp/daemon.json
c {
c   "hosts": ["unix:///srv/lab/tcp/docker.sock", "tcp://127.0.0.1:2375"],
c   "runtimes": {"nvidia": {"path": "/usr/bin/true"}}
c }

@@ listen
0100007F:0947
@@ pid 22495
a /usr/sbin/dockerd
a --config-file
a /srv/lab/main/daemon.json
a --host
a unix:///srv/lab/main/docker.sock
a --data-root
a /srv/lab/main/data
@@ config /srv/lab/main/daemon.json
c {}

@@ listen
@@ hostlisten
"""


def test_host_probe_finds_each_daemon_by_its_socket() -> None:
    daemons, host = parse_host_probe(PROBE)
    assert [daemon.pid for daemon in daemons] == [22497, 22495]
    assert daemons[0].api_port_listeners == ("127.0.0.1:2375",)
    assert daemons[1].config == {}
    assert host == ()
    assert pick_daemon(daemons, "/srv/lab/tcp/docker.sock", None) is daemons[0]
    assert tcp_listeners(daemons, host, "/srv/lab/tcp/docker.sock", None) == ("tcp://127.0.0.1:2375",)
    assert tcp_listeners(daemons, host, "/srv/lab/main/docker.sock", None) == ()
    # A socket neither names: the data root from /info decides.
    assert pick_daemon(daemons, "/elsewhere.sock", "/srv/lab/main/data") is daemons[1]
    assert tcp_listeners(daemons, host, "/elsewhere.sock", "/nowhere") is None


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("dockerd", "-H", "fd://", "-H", "tcp://0.0.0.0:2375"), ("tcp://0.0.0.0:2375",)),
        (("dockerd", "-Htcp://10.0.0.5:2376", "--tlsverify"), ("tcp://10.0.0.5:2376",)),
        (("dockerd", "--host=unix:///var/run/docker.sock", "--host=0.0.0.0:2375"), ("tcp://0.0.0.0:2375",)),
        (("dockerd", "-H", "fd://", "--containerd=/run/containerd/containerd.sock"), ()),
        (("/usr/bin/dockerd",), ()),
    ],
)
def test_tcp_hosts_in_any_flag_spelling(argv: tuple[str, ...], expected: tuple[str, ...]) -> None:
    daemon = DaemonProcess(1, argv, config={})
    assert tcp_listeners([daemon], (), "/var/run/docker.sock", "/var/lib/docker") == expected


def test_the_default_socket_is_served_by_fd_or_no_host_flag() -> None:
    other = DaemonProcess(2, ("dockerd", "-H", "unix:///srv/other.sock"))
    for argv in (("dockerd", "-H", "fd://"), ("dockerd",), ("dockerd", "-H", "unix:///run/docker.sock")):
        daemon = DaemonProcess(1, argv)
        assert pick_daemon([other, daemon], "/var/run/docker.sock", None) is daemon
    tcp_only = DaemonProcess(1, ("dockerd", "-H", "tcp://0.0.0.0:2375"))  # no unix socket at all
    assert pick_daemon([other, tcp_only], "/var/run/docker.sock", None) is None


def test_listeners_on_docker_ports_and_unreadable_config() -> None:
    silent = DaemonProcess(1, ("dockerd",), config=None, config_unreadable=True)
    assert tcp_listeners([silent], (), "/var/run/docker.sock", None) is None
    exposed = replace(silent, api_port_listeners=("0.0.0.0:2375",))
    assert tcp_listeners([exposed], (), "/var/run/docker.sock", None) == ("tcp://0.0.0.0:2375",)
    # No dockerd visible (another PID namespace): a 2375 listener is evidence, silence is not.
    assert tcp_listeners([], ("0.0.0.0:2376",), "/var/run/docker.sock", None) == ("tcp://0.0.0.0:2376",)
    assert tcp_listeners([], (), "/var/run/docker.sock", None) is None


def test_proc_net_addresses() -> None:
    assert decode_proc_address("0100007F:0947") == "127.0.0.1:2375"
    assert decode_proc_address("00000000:0948") == "0.0.0.0:2376"
    assert decode_proc_address("00000000000000000000000001000000:0947") == "[::1]:2375"
    assert decode_proc_address("00000000000000000000000000000000:0947") == "[::]:2375"


def test_engine_facts_and_snap_detection() -> None:
    info = {
        "Runtimes": {"runc": {}, "nvidia": {}},
        "DefaultRuntime": "nvidia",
        "DockerRootDir": "/var/lib/docker",
    }
    engine = parse_engine({"Version": "27.3.1", "ApiVersion": "1.47"}, info, tcp=())
    assert (engine.runtimes, engine.nvidia_runtime, engine.snap) == (("nvidia", "runc"), True, False)
    snap_root = {**info, "DockerRootDir": "/var/snap/docker/common/var-lib-docker"}
    assert parse_engine({}, snap_root, tcp=None).snap is True
    snap_binary = DaemonProcess(7, ("/snap/docker/2915/bin/dockerd", "--group", "docker"))
    assert parse_engine({}, info, tcp=(), daemon=snap_binary).snap is True


def test_list_entry_and_health_text() -> None:
    # One entry of GET /containers/json?all=1 from the lab's dockerd 20.10.
    entry = {
        "Id": "b703ea07c708bf99e79db105c9595e1efabce23d56464733325a5fbacb211fb7",
        "Names": ["/web"],
        "Image": "opslab/busybox:1",
        "State": "running",
        "Status": "Up 2 seconds (healthy)",
        "Ports": [
            {"IP": "127.0.0.1", "PrivatePort": 8080, "PublicPort": 18080, "Type": "tcp"},
            {"PrivatePort": 9090, "Type": "tcp"},
        ],
        "Labels": {"com.docker.compose.project": "lab", "com.docker.compose.service": "web"},
    }
    container = parse_container(entry)
    assert (container.name, container.state, container.health) == ("web", "running", "healthy")
    assert container.ports == (PublishedPort("127.0.0.1", 18080, 8080, "tcp"),)
    assert (container.compose_project, container.compose_service) == ("lab", "web")
    assert container.restart_count is None  # not inspected
    assert health_from_status("Up 1 second (health: starting)") == "starting"
    assert health_from_status("Up 3 hours (unhealthy)") == "unhealthy"
    assert health_from_status("Exited (0) 2 days ago") is None
