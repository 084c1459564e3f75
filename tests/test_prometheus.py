"""PrometheusClient and collect_prometheus against a real Prometheus (tests/lab/prometheus.py); the rules."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from console.checks.model import Status
from console.checks.prometheus_rules import (
    evaluate_prometheus,
    planned_prometheus,
    prometheus_node,
)
from console.collectors.prometheus import (
    AlertInfo,
    AlertState,
    PrometheusClient,
    PrometheusError,
    PrometheusSnapshot,
    PrometheusUnreachable,
    PromQLError,
    TargetHealth,
    TargetInfo,
    collect_prometheus,
    open_prometheus,
)
from console.inventory.model import Inventory, Node, PrometheusSettings
from console.transport import SSHTransport
from tests.lab.exporter import LOAD
from tests.lab.models import lab_node_model
from tests.lab.network import _SilentListener
from tests.lab.prometheus import ALWAYS_FIRING, PENDING, SIMULATOR_INSTANCE, PrometheusLab
from tests.lab.sshd import LabNode, SshLab

AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def client(lab: PrometheusLab, timeout: float = 5.0) -> PrometheusClient:
    return PrometheusClient(lab.url, timeout=timeout)


async def test_instant_query_returns_dcgm_series_with_their_labels(prometheus_lab: PrometheusLab) -> None:
    with client(prometheus_lab) as prom:
        result = await prom.query("DCGM_FI_DEV_GPU_UTIL")
    assert result.result_type == "vector"
    by_gpu = {sample.label("gpu"): sample for sample in result.samples}
    assert set(by_gpu) == {"0", "1"}
    gpu0 = by_gpu["0"]
    assert (gpu0.name, gpu0.value) == ("DCGM_FI_DEV_GPU_UTIL", 100.0)
    assert gpu0.label("Hostname") == "gpu1"
    assert gpu0.label("UUID") == LOAD.uuid == "GPU-862d267a-20ce-32e4-f9da-22573272ba66"
    assert gpu0.label("modelName") == "NVIDIA H100 80GB HBM3"
    assert gpu0.label("job") == "dcgm"
    assert abs(gpu0.timestamp - time.time()) < 60


async def test_scalar_query(prometheus_lab: PrometheusLab) -> None:
    with client(prometheus_lab) as prom:
        result = await prom.query("scalar(sum(DCGM_FI_DEV_FB_USED))")
    assert result.result_type == "scalar"
    (sample,) = result.samples
    assert (sample.labels, sample.value) == ((), 2 * 21619.0)


async def test_range_query_returns_points_over_time(prometheus_lab: PrometheusLab) -> None:
    # Right after the lab starts the only samples may be younger than a step: end the window a little in
    # the future (Prometheus allows it).
    end = datetime.now(UTC) + timedelta(seconds=2)
    with client(prometheus_lab) as prom:
        result = await prom.query_range('DCGM_FI_DEV_GPU_TEMP{gpu="0"}', end - timedelta(seconds=30), end, 1)
    (series,) = result.series
    assert dict(series.labels)["UUID"] == LOAD.uuid
    assert series.points
    assert {value for _, value in series.points} == {59.0}
    stamps = [stamp for stamp, _ in series.points]
    assert stamps == sorted(stamps)


async def test_promql_syntax_error_comes_back_readable(prometheus_lab: PrometheusLab) -> None:
    with client(prometheus_lab) as prom:
        with pytest.raises(PromQLError) as caught:
            await prom.query("DCGM_FI_DEV_GPU_UTIL *")
        assert str(caught.value) == "parse error at char 23: unexpected end of input"
        with pytest.raises(
            PromQLError, match=r"^parse error at char \d+: expected type range vector in call"
        ):
            await prom.query("rate(DCGM_FI_DEV_GPU_UTIL)")
        with pytest.raises(PromQLError, match=r"^the query returns a range vector: use query_range"):
            await prom.query("DCGM_FI_DEV_GPU_UTIL[1m]")


async def test_targets_one_up_one_down_with_its_error(prometheus_lab: PrometheusLab) -> None:
    with client(prometheus_lab) as prom:
        targets = {target.job: target for target in await prom.targets()}
    assert set(targets) == {"dcgm", "gpu-simulator", "dead"}
    up, dead = targets["dcgm"], targets["dead"]
    assert exporter_port(prometheus_lab) == int(up.instance.rsplit(":", 1)[1])
    assert (up.health, up.last_error) == ("up", None)
    assert up.scrape_url == f"http://{up.instance}/metrics"
    assert up.last_scrape is not None
    assert abs((datetime.now(UTC) - up.last_scrape).total_seconds()) < 30
    assert targets["gpu-simulator"].instance == SIMULATOR_INSTANCE
    assert dead.health == "down"
    assert dead.instance == f"127.0.0.1:{prometheus_lab.dead_port}"
    assert dead.last_error is not None
    assert "connection refused" in dead.last_error


def exporter_port(lab: PrometheusLab) -> int:
    assert lab.exporter is not None
    return lab.exporter.dcgm_port


async def test_alerts_firing_critical_and_pending(prometheus_lab: PrometheusLab) -> None:
    with client(prometheus_lab) as prom:
        alerts = {alert.name: alert for alert in await prom.alerts()}
    firing, pending = alerts[ALWAYS_FIRING], alerts[PENDING]
    assert (firing.state, firing.severity) == ("firing", "critical")
    assert firing.summary == "always firing (test lab)"
    assert firing.description == "vector(1) is always 1"
    assert dict(firing.labels)["alertname"] == ALWAYS_FIRING
    assert firing.active_at is not None
    assert firing.active_at <= datetime.now(UTC)
    assert (pending.state, pending.severity) == ("pending", "warning")


async def test_metric_names_for_completion(prometheus_lab: PrometheusLab) -> None:
    with client(prometheus_lab) as prom:
        names = await prom.metric_names()
    assert {"DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "gpu_utilization_percent", "up"} <= set(names)


async def test_label_names_of_all_series_and_of_one_metric(prometheus_lab: PrometheusLab) -> None:
    with client(prometheus_lab) as prom:
        every = await prom.label_names()
        dcgm = await prom.label_names("DCGM_FI_DEV_GPU_UTIL")
        none = await prom.label_names("no_such_metric_anywhere")
    assert {"__name__", "job", "instance", "Hostname", "UUID", "gpu", "modelName"} <= set(every)
    assert {"__name__", "job", "instance", "Hostname", "UUID", "gpu", "modelName"} <= set(dcgm)
    assert "alertname" in every  # from ALERTS, which the GPU metric's series do not carry
    assert "alertname" not in dcgm
    assert none == ()


async def test_label_values_of_all_series_and_of_one_metric(prometheus_lab: PrometheusLab) -> None:
    with client(prometheus_lab) as prom:
        jobs = await prom.label_values("job")
        hosts = await prom.label_values("Hostname", "DCGM_FI_DEV_GPU_UTIL")
        up_jobs = await prom.label_values("job", 'up{job=~"d.*"}')
    assert {"dcgm", "gpu-simulator", "dead"} <= set(jobs)
    assert hosts == ("gpu1",)
    assert up_jobs == ("dcgm", "dead")


async def test_label_lookups_fail_as_the_other_calls_do(prometheus_lab: PrometheusLab) -> None:
    dead = f"http://127.0.0.1:{prometheus_lab.dead_port}"
    with client(prometheus_lab) as prom:
        with pytest.raises(PrometheusError) as bad_match:
            await prom.label_values("job", "up{")
        with pytest.raises(PrometheusError) as bad_name:
            await prom.label_values("../../query?query=up")  # never reaches the URL's path
    assert not isinstance(bad_match.value, PrometheusUnreachable | PromQLError)
    assert str(bad_match.value).startswith(f"Prometheus at {prometheus_lab.url}: ")
    assert "parse error" in str(bad_match.value)
    assert str(bad_name.value) == "not a label name: '../../query?query=up'"
    with PrometheusClient(dead, timeout=3) as prom, pytest.raises(PrometheusUnreachable) as caught:
        await prom.label_names("up")
    assert str(caught.value) == f"Prometheus at {dead} unreachable: connection refused"
    capped = PrometheusClient(prometheus_lab.url, timeout=5, max_bytes=64)
    with capped as prom, pytest.raises(PrometheusError, match="sent more than 64 bytes: refused"):
        await prom.label_names()


async def test_label_lookup_from_a_server_that_never_answers_is_cut_at_the_timeout() -> None:
    silent = _SilentListener()
    url = f"http://127.0.0.1:{silent.port}"
    try:
        started = time.monotonic()
        with PrometheusClient(url, timeout=0.5) as prom, pytest.raises(PrometheusUnreachable) as caught:
            await prom.label_values("job", "up")
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert str(caught.value) == f"Prometheus at {url} unreachable: no answer within 0.5s"
    assert 0.4 < elapsed < 1.5


async def test_dead_port_is_unreachable_with_a_clear_message_fast(prometheus_lab: PrometheusLab) -> None:
    url = f"http://127.0.0.1:{prometheus_lab.dead_port}"
    started = time.monotonic()
    with PrometheusClient(url, timeout=3) as prom, pytest.raises(PrometheusUnreachable) as caught:
        await prom.query("up")
    assert str(caught.value) == f"Prometheus at {url} unreachable: connection refused"
    assert time.monotonic() - started < 1.0  # refused at once: no retries, no backoff


async def test_server_that_never_answers_is_cut_at_the_timeout() -> None:
    silent = _SilentListener()
    url = f"http://127.0.0.1:{silent.port}"
    try:
        started = time.monotonic()
        with PrometheusClient(url, timeout=0.5) as prom, pytest.raises(PrometheusUnreachable) as caught:
            await prom.targets()
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    assert str(caught.value) == f"Prometheus at {url} unreachable: no answer within 0.5s"
    assert 0.4 < elapsed < 1.5


async def test_wrong_path_prefix_is_an_http_error_not_a_traceback(prometheus_lab: PrometheusLab) -> None:
    url = f"{prometheus_lab.url}/no-such-prefix"
    with PrometheusClient(url, timeout=3) as prom, pytest.raises(PrometheusError) as caught:
        await prom.metric_names()
    assert not isinstance(caught.value, PrometheusUnreachable | PromQLError)
    assert str(caught.value).startswith(f"Prometheus at {url} answered HTTP 404")


async def test_collect_prometheus_snapshot(prometheus_lab: PrometheusLab) -> None:
    snapshot = await collect_prometheus(PrometheusSettings(url=prometheus_lab.url, timeout=5))
    assert snapshot.error is None
    assert snapshot.url == prometheus_lab.url
    assert {(t.job, t.health) for t in snapshot.targets} == {
        ("dcgm", "up"),
        ("gpu-simulator", "up"),
        ("dead", "down"),
    }
    assert {(a.name, a.state) for a in snapshot.alerts} == {(ALWAYS_FIRING, "firing"), (PENDING, "pending")}
    # The rules on the live snapshot: the dead target and the critical alert page; the pending one waits.
    results = evaluate_prometheus("monitor", snapshot)
    assert {(r.check, r.target, r.status) for r in results} == {
        ("prometheus.targets", f"dead/127.0.0.1:{prometheus_lab.dead_port}", Status.CRITICAL),
        ("prometheus.alerts", ALWAYS_FIRING, Status.CRITICAL),
    }


async def test_collect_prometheus_never_raises_when_unreachable(prometheus_lab: PrometheusLab) -> None:
    url = f"http://127.0.0.1:{prometheus_lab.dead_port}"
    snapshot = await collect_prometheus(PrometheusSettings(url=url, timeout=2))
    assert snapshot.error == f"Prometheus at {url} unreachable: connection refused"
    assert (snapshot.targets, snapshot.alerts) == ((), ())
    results = evaluate_prometheus("monitor", snapshot)
    assert [(r.check, r.status, r.summary) for r in results] == [
        ("prometheus.targets", Status.UNKNOWN, snapshot.error),
        ("prometheus.alerts", Status.UNKNOWN, snapshot.error),
    ]


async def test_via_a_node_the_tunnel_returns_the_same_data(
    prometheus_lab: PrometheusLab, ssh_lab: SshLab, gpu_node: LabNode
) -> None:
    # Prometheus's URL as the via node sees it: 127.0.0.1:PORT on gpu1, reached through gpu1's real sshd.
    settings = PrometheusSettings(url=f"{prometheus_lab.url}/", via="gpu1", timeout=5)
    transport = SSHTransport(lab_node_model(ssh_lab, gpu_node))
    try:
        prom = await open_prometheus(settings, transport)
        with prom:
            assert prom.url.startswith("http://127.0.0.1:")
            assert prom.url != prometheus_lab.url  # the tunnel's local end, not Prometheus itself
            via_result = await prom.query("DCGM_FI_DEV_GPU_UTIL")
            with pytest.raises(PromQLError, match=r"^parse error at char"):
                await prom.query("sum(")
        via_snapshot = await collect_prometheus(settings, transport)
    finally:
        await transport.close()
    with client(prometheus_lab) as direct:
        direct_result = await direct.query("DCGM_FI_DEV_GPU_UTIL")
    assert {s.labels for s in via_result.samples} == {s.labels for s in direct_result.samples}
    assert via_snapshot.error is None
    assert {(t.job, t.instance, t.health) for t in via_snapshot.targets} == {
        ("dcgm", f"127.0.0.1:{exporter_port(prometheus_lab)}", "up"),
        ("gpu-simulator", SIMULATOR_INSTANCE, "up"),
        ("dead", f"127.0.0.1:{prometheus_lab.dead_port}", "down"),
    }


async def test_via_a_node_that_cannot_be_reached(
    prometheus_lab: PrometheusLab, ssh_lab: SshLab, gpu_node: LabNode
) -> None:
    # gpu1's model, but its SSH port is the lab's dead port: the tunnel cannot open.
    node = lab_node_model(ssh_lab, gpu_node, ssh={"port": prometheus_lab.dead_port, "connect_timeout": 2})
    settings = PrometheusSettings(url=prometheus_lab.url, via="gpu1", timeout=3)
    transport = SSHTransport(node)
    started = time.monotonic()
    try:
        snapshot = await collect_prometheus(settings, transport)
    finally:
        await transport.close()
    assert time.monotonic() - started < 3
    assert snapshot.error is not None
    assert snapshot.error.startswith(f"Prometheus at {prometheus_lab.url} (via gpu1) unreachable: ")
    assert "refused" in snapshot.error
    without_transport = await collect_prometheus(settings, None)
    assert without_transport.error == (
        f"Prometheus at {prometheus_lab.url} (via gpu1) unreachable: no connection to node gpu1"
    )


# Rules on constructed snapshots.


def target(job: str, health: TargetHealth, error: str | None = None) -> TargetInfo:
    return TargetInfo(job, f"{job}:9100", health, error, AT, f"http://{job}:9100/metrics")


def alert(name: str, state: AlertState, severity: str | None, summary: str | None = None) -> AlertInfo:
    labels = (("alertname", name),) + ((("severity", severity),) if severity else ())
    return AlertInfo(name, state, severity, labels, summary, None, AT)


def snapshot(targets: tuple[TargetInfo, ...] = (), alerts: tuple[AlertInfo, ...] = ()) -> PrometheusSnapshot:
    return PrometheusSnapshot(AT, "http://prom:9090", targets, alerts)


def test_all_targets_up_is_one_ok_result() -> None:
    results = evaluate_prometheus("monitor", snapshot((target("node", "up"), target("dcgm", "up"))))
    targets = [r for r in results if r.check == "prometheus.targets"]
    assert [(r.status, r.summary, r.target) for r in targets] == [(Status.OK, "2 targets up", None)]
    assert targets[0].node == "monitor"


def test_each_down_target_is_critical_with_its_error() -> None:
    snap = snapshot((target("node", "up"), target("dcgm", "down", "connection refused"), target("x", "down")))
    results = [r for r in evaluate_prometheus("monitor", snap) if r.check == "prometheus.targets"]
    assert [(r.status, r.target, r.summary) for r in results] == [
        (Status.CRITICAL, "dcgm/dcgm:9100", "down: connection refused"),
        (Status.CRITICAL, "x/x:9100", "down: no error reported"),
    ]


def test_targets_not_scraped_yet_are_not_down_and_no_targets_is_a_warning() -> None:
    waiting = evaluate_prometheus("m", snapshot((target("node", "up"), target("new", "unknown"))))[0]
    assert (waiting.status, waiting.summary) == (Status.OK, "1 target up, 1 not scraped yet")
    empty = evaluate_prometheus("m", snapshot())[0]
    assert (empty.check, empty.status, empty.summary) == (
        "prometheus.targets",
        Status.WARNING,
        "no active scrape targets",
    )


def test_firing_alerts_by_severity_and_pending_ones_ignored() -> None:
    snap = snapshot(
        alerts=(
            alert("GpuHot", "firing", "critical", "GPU 0 at 96 °C"),
            alert("Paged", "firing", "page"),
            alert("DiskFilling", "firing", "warning", "80 % full"),
            alert("Odd", "firing", "info"),
            alert("Bare", "firing", None),
            alert("Soon", "pending", "critical"),
        )
    )
    results = {r.target: r for r in evaluate_prometheus("monitor", snap) if r.check == "prometheus.alerts"}
    assert {name: r.status for name, r in results.items()} == {
        "GpuHot": Status.CRITICAL,
        "Paged": Status.CRITICAL,
        "DiskFilling": Status.WARNING,
        "Odd": Status.WARNING,
        "Bare": Status.WARNING,
    }
    assert results["GpuHot"].summary == "firing (critical): GPU 0 at 96 °C"
    assert results["Bare"].summary == "firing (no severity): no summary"


def test_one_alert_firing_for_several_series_is_one_result_at_its_worst() -> None:
    snap = snapshot(
        alerts=(alert("GpuHot", "firing", "warning", "warm"), alert("GpuHot", "firing", "critical", "hot"))
    )
    (result,) = [r for r in evaluate_prometheus("m", snap) if r.check == "prometheus.alerts"]
    assert (result.status, result.summary) == (Status.CRITICAL, "2 firing (critical): hot")


def test_no_firing_alerts_is_ok() -> None:
    results = evaluate_prometheus(
        "m", snapshot((target("node", "up"),), (alert("Soon", "pending", "critical"),))
    )
    assert [(r.check, r.status, r.summary) for r in results] == [
        ("prometheus.targets", Status.OK, "1 target up"),
        ("prometheus.alerts", Status.OK, "no firing alerts"),
    ]


def test_no_snapshot_is_unknown_and_the_node_is_via_or_the_inventory() -> None:
    assert [(r.check, r.status, r.summary) for r in evaluate_prometheus("m", None)] == [
        ("prometheus.targets", Status.UNKNOWN, "no Prometheus data"),
        ("prometheus.alerts", Status.UNKNOWN, "no Prometheus data"),
    ]
    nodes = (Node("monitor", "10.70.0.5"),)
    via = Inventory("stack", "x.yaml", nodes, PrometheusSettings("http://127.0.0.1:9090", via="monitor"))
    direct = Inventory("stack", "x.yaml", nodes, PrometheusSettings("http://10.70.0.5:9090"))
    assert (prometheus_node(via), prometheus_node(direct)) == ("monitor", "stack")
    assert planned_prometheus(via) == (("prometheus.targets", None), ("prometheus.alerts", None))
    assert planned_prometheus(Inventory("stack", "x.yaml", nodes)) == ()


async def test_an_answer_larger_than_the_cap_is_refused(prometheus_lab: PrometheusLab) -> None:
    # The real target list is a few KiB; with a 1 KiB cap it is refused for its size, not half-read.
    with PrometheusClient(prometheus_lab.url, timeout=5, max_bytes=1024) as prom:
        with pytest.raises(PrometheusError) as caught:
            await prom.targets()
        names = await prom.query("up")  # a small answer under the same cap is fine
    assert str(caught.value) == f"Prometheus at {prometheus_lab.url} sent more than 1024 bytes: refused"
    assert names.samples
