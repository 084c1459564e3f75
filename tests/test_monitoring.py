"""The monitoring stack's own health against a real Prometheus and a real Alertmanager with known trouble
(tests/lab/monitoring_stack.py: a rule failing at every evaluation, a job with no target up, a scrape taking
most of its interval) and a Grafana stand-in answering in Grafana's /api/health shape (no Grafana here)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from console.checks.model import CheckResult, Status
from console.checks.monitoring_rules import evaluate_monitoring, planned_monitoring
from console.collectors.monitoring import collect_monitoring, own_metrics
from console.inventory.model import Inventory, MonitoringSettings, Node, PrometheusSettings
from console.model.monitoring import MonitoringSnapshot
from tests.lab.availability import lab_unavailable
from tests.lab.common import LabError
from tests.lab.monitoring_stack import FAILING_RULE, GRAFANA_VERSION, MonitoringStack


@pytest.fixture(scope="module")
def monitoring_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MonitoringStack]:
    """A real Prometheus and Alertmanager (a lab part: skipped with its reason outside CI)."""
    try:
        stack = MonitoringStack(tmp_path_factory.mktemp("monitoring"))
        stack.start()
    except LabError as exc:
        lab_unavailable("the monitoring stack lab", exc)
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def stack(monitoring_stack: MonitoringStack) -> MonitoringStack:
    return monitoring_stack


def _inventory(stack: MonitoringStack, **monitoring: object) -> Inventory:
    settings = MonitoringSettings(
        grafana=str(monitoring.get("grafana", stack.grafana_url)),
        alertmanager=str(monitoring.get("alertmanager", stack.alertmanager_url)),
        timeout=float(monitoring.get("timeout", 5.0)),  # type: ignore[arg-type]
    )
    return Inventory(
        "lab",
        "lab.yaml",
        (Node("n1", "127.0.0.1"),),
        prometheus=PrometheusSettings(stack.url),
        monitoring=settings,
    )


def _look(inventory: Inventory) -> tuple[MonitoringSnapshot, dict[str, CheckResult]]:
    snapshot = asyncio.run(collect_monitoring(inventory.prometheus, inventory.monitoring))
    results = {r.check: r for r in evaluate_monitoring("lab", inventory, snapshot)}
    return snapshot, results


def test_the_stack_says_what_is_wrong_with_it(stack: MonitoringStack) -> None:
    inventory = _inventory(stack)
    snapshot, results = _look(inventory)
    assert snapshot.ready is True
    assert snapshot.config_reload_ok is True
    assert snapshot.corruptions == 0
    assert snapshot.retention  # Debian's default, as Prometheus states it
    assert snapshot.head_series
    assert snapshot.head_series > 0
    assert [rule.name for rule in snapshot.failing_rules] == [FAILING_RULE]
    assert snapshot.alertmanagers_active == 1
    assert snapshot.alertmanager_ok is True
    assert (snapshot.grafana_ok, snapshot.grafana_version) == (True, GRAFANA_VERSION)
    jobs = {job.job: job for job in snapshot.jobs}
    assert (jobs["dead"].up, jobs["dead"].total) == (0, 1)
    assert jobs["slow"].slowest_s is not None
    assert jobs["slow"].slowest_s >= 0.8
    prometheus = results["monitoring.prometheus"]
    assert prometheus.status is Status.WARNING
    assert FAILING_RULE in prometheus.summary
    assert "many-to-many" in prometheus.summary or "duplicate" in prometheus.summary
    scrapes = results["monitoring.scrapes"]
    assert scrapes.status is Status.CRITICAL
    assert "job dead: none of 1 target up" in scrapes.summary
    assert "job slow:" in scrapes.summary
    assert results["monitoring.alertmanager"].status is Status.OK
    assert results["monitoring.grafana"].status is Status.OK
    assert GRAFANA_VERSION in results["monitoring.grafana"].summary
    assert [check for check, _ in planned_monitoring(inventory)] == list(results)


def test_grafana_with_a_failing_database_is_critical(stack: MonitoringStack) -> None:
    stack.grafana_database = "failing"
    try:
        _snapshot, results = _look(_inventory(stack))
    finally:
        stack.grafana_database = "ok"
    grafana = results["monitoring.grafana"]
    assert grafana.status is Status.CRITICAL
    assert "HTTP 503" in grafana.summary


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_dead_part_hides_nothing_else(stack: MonitoringStack) -> None:
    gone = f"http://127.0.0.1:{_closed_port()}"
    snapshot, results = _look(_inventory(stack, grafana=gone, alertmanager=gone))
    assert results["monitoring.grafana"].status is Status.CRITICAL
    assert "unreachable" in results["monitoring.grafana"].summary
    assert results["monitoring.alertmanager"].status is Status.CRITICAL
    assert snapshot.ready is True
    assert snapshot.failing_rules


def test_a_grafana_that_never_answers_costs_its_deadline_only(stack: MonitoringStack) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # accepts, never answers
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        hung = f"http://127.0.0.1:{listener.getsockname()[1]}"
        snapshot, results = _look(_inventory(stack, grafana=hung, timeout=1.0))
        assert time.monotonic() - started < 1.0 + 2.0
        assert "no answer within 1s" in results["monitoring.grafana"].summary
        assert snapshot.ready is True
    finally:
        stop.set()
        thread.join()
        for sock in held:
            sock.close()
        listener.close()


def test_no_prometheus_is_critical_with_the_reason() -> None:
    settings = PrometheusSettings(f"http://127.0.0.1:{_closed_port()}", timeout=2.0)
    inventory = Inventory("lab", "lab.yaml", (Node("n1", "127.0.0.1"),), prometheus=settings)
    snapshot = asyncio.run(collect_monitoring(settings, None))
    results = {r.check: r for r in evaluate_monitoring("lab", inventory, snapshot)}
    assert results["monitoring.prometheus"].status is Status.CRITICAL
    assert "unreachable" in results["monitoring.prometheus"].summary
    assert results["monitoring.scrapes"].status is Status.UNKNOWN
    assert set(results) == {"monitoring.prometheus", "monitoring.scrapes"}  # nothing else was configured


def test_own_metrics_reads_only_what_it_needs() -> None:
    text = (
        "# HELP prometheus_tsdb_head_series Total number of series in the head block.\n"
        "prometheus_tsdb_head_series 1234\n"
        'prometheus_tsdb_storage_blocks_bytes{x="1"} 1e9\n'
        "prometheus_tsdb_storage_blocks_bytes NaN\n"
        "prometheus_tsdb_retention_limit_bytes 0\n"
        "prometheus_tsdb_wal_storage_size_bytes 5e8\n"
        "go_goroutines 40\n"
    )
    assert own_metrics(text) == {"head_series": 1234.0, "blocks": 1e9, "limit": 0.0, "wal": 5e8}


def test_own_metrics_that_sum_past_a_float_are_unknown() -> None:
    """Each value is finite, their sum is not: unknown, never an `inf` TSDB size (or `nan%` of a limit)."""
    text = (
        'prometheus_tsdb_storage_blocks_bytes{a="1"} 1.7e308\n'
        'prometheus_tsdb_storage_blocks_bytes{a="2"} 1.7e308\n'
        "prometheus_tsdb_head_series 5\n"
    )
    assert own_metrics(text) == {"head_series": 5.0}


def test_tsdb_near_its_size_retention_warns_then_pages() -> None:
    inventory = Inventory(
        "lab", "lab.yaml", (Node("n1", "h"),), prometheus=PrometheusSettings("http://p:9090")
    )
    base = dict(taken_at=None, prometheus_url="http://p:9090", ready=True, jobs=())
    for used, status in ((0.5, Status.OK), (0.92, Status.WARNING), (0.97, Status.CRITICAL)):
        snapshot = MonitoringSnapshot(
            **base, tsdb_bytes=used * 100 * 2**30, retention_limit_bytes=100 * 2**30
        )  # type: ignore[arg-type]
        result = evaluate_monitoring("lab", inventory, snapshot)[0]
        assert result.status is status, (used, result.summary)
