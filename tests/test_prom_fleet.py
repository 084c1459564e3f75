"""The fleet read from Prometheus, against a real Prometheus scraping the synthetic fleet exporter
(tests/lab/fleet_exporter.py: node_exporter, DCGM and cAdvisor series in their real names and labels)."""

from __future__ import annotations

import asyncio
import json
import math
import socket
import threading
import time

import pytest

from console.collectors.prom_fleet import TAG, PromFleetReader, collect_prom_fleet, fleet_queries, node_name
from console.collectors.prometheus import PrometheusClient
from console.model.prom_fleet import PromFleetSnapshot
from tests.lab.fleet_exporter import expected
from tests.lab.fleet_exporter import node_name as lab_name
from tests.lab.prom_fleet import PromFleetLab
from tests.lab.prom_fleet_fixtures import PROM_FLEET_NODES
from tests.test_prometheus_json import FixedAnswer

NODES = PROM_FLEET_NODES
WINDOW = "5s"  # covers five 1 s scrapes: rate() sees the exporter's exact rates once it has run that long


@pytest.fixture
def lab(prom_fleet_lab: PromFleetLab) -> PromFleetLab:
    return prom_fleet_lab


def _read(url: str, **kwargs: object) -> PromFleetSnapshot:
    return asyncio.run(collect_prom_fleet(PrometheusClient(url, timeout=5.0), window=WINDOW, **kwargs))  # type: ignore[arg-type]


def _settled(lab: PromFleetLab) -> PromFleetSnapshot:
    """Read until the rate window is covered (the exporter's rates are exact from then on); bounded."""
    deadline = time.monotonic() + 30.0
    while True:
        snapshot = _read(lab.url)
        node = snapshot.node(lab_name(3))
        if (
            node
            and node.cpu_pct is not None
            and math.isclose(node.cpu_pct, expected(3)["cpu_pct"], abs_tol=0.5)
        ):
            restarted = snapshot.node(lab_name(0))
            if restarted and (restarted.container_restarts or 0) > 0:
                return snapshot
        if time.monotonic() > deadline:
            return snapshot
        time.sleep(0.5)


def test_every_node_has_the_figures_its_series_say(lab: PromFleetLab) -> None:
    snapshot = _settled(lab)
    assert snapshot.error is None
    assert snapshot.failed == ()
    for i in range(NODES - 1):  # the last node is frozen (below)
        node = snapshot.node(lab_name(i))
        assert node is not None, lab_name(i)
        for field, want in expected(i).items():
            got = getattr(node, field)
            assert got is not None, (lab_name(i), field)
            assert math.isclose(got, want, rel_tol=0.02, abs_tol=0.5), (lab_name(i), field, got, want)
        # the fullest local filesystem: the NFS mount at 99 % and tmpfs at 98 % are not the node's disks
        assert node.disk_fullest_mount == "/scratch"
        assert node.stale is False
        assert node.scrape_interval_s == 1.0
    assert [snapshot.node(lab_name(i)).alerts_firing for i in range(NODES)] == [
        int(i == 2) for i in range(NODES)
    ]  # type: ignore[union-attr]
    # cAdvisor: node 0's "comfyui" starts again every 3 s; nobody else's containers restart
    assert (snapshot.node(lab_name(0)).container_restarts or 0) > 0  # type: ignore[union-attr]
    assert snapshot.node(lab_name(1)).container_restarts == 0  # type: ignore[union-attr]


def test_a_node_whose_series_stopped_is_stale_not_fresh(lab: PromFleetLab) -> None:
    deadline = time.monotonic() + 20.0
    while True:
        frozen = _read(lab.url).node(lab_name(NODES - 1))
        assert frozen is not None
        if frozen.stale or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert frozen.stale
    assert frozen.age_s is not None
    assert frozen.age_s > 3.0
    assert frozen.cpu_pct is None  # one sample: no rate, and never a made-up 0
    assert frozen.load1 == expected(NODES - 1)["load1"]  # the old numbers are still shown, said to be old


def test_labels_are_remote_text(lab: PromFleetLab) -> None:
    snapshot = _read(lab.url)
    names = [node.name for node in snapshot.nodes]
    assert all("\x1b" not in name and "\x07" not in name for name in names)
    assert any(name.startswith("\\x1b]0;pwned\\x07evil[/]") for name in names), names
    # the exporter's own target answers, but every series it serves names another node: not a node itself
    assert "127.0.0.1" not in names


def test_the_queries_do_not_grow_with_the_fleet(lab: PromFleetLab) -> None:
    requests: list[str] = []

    class Counting(PrometheusClient):
        async def _get(self, path, params=None):  # type: ignore[no-untyped-def]
            requests.append(path)
            return await super()._get(path, params)

    snapshot = asyncio.run(collect_prom_fleet(Counting(lab.url), window=WINDOW))
    assert len(requests) == snapshot.queries == len(fleet_queries()) + 1 <= 10
    assert len(snapshot.nodes) >= NODES
    # Nothing in a query names a node: the same requests answer for 10 nodes or 2,000.
    assert not any(lab_name(i) in promql for promql in fleet_queries().values() for i in range(NODES))


def test_one_failing_query_leaves_the_others(lab: PromFleetLab) -> None:
    class OneBroken(PrometheusClient):
        async def query_series(self, promql):  # type: ignore[no-untyped-def]
            if "ALERTS" in promql:
                promql = "this is not promql"
            return await super().query_series(promql)

    snapshot = asyncio.run(collect_prom_fleet(OneBroken(lab.url), window=WINDOW))
    assert snapshot.error is None
    assert [failed.split(":")[0] for failed in snapshot.failed] == ["alerts"]
    assert snapshot.node(lab_name(3)).load1 == expected(3)["load1"]  # type: ignore[union-attr]


def test_no_prometheus_is_an_error_not_an_exception() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    snapshot = _read(f"http://127.0.0.1:{port}")
    assert snapshot.nodes == ()
    assert snapshot.error
    assert "unreachable" in snapshot.error


def test_a_prometheus_that_never_answers_ends_by_the_deadline() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)  # accepts, never answers
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        client = PrometheusClient(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=1.0)
        snapshot = asyncio.run(collect_prom_fleet(client))
        assert time.monotonic() - started < 1.0 + 2.0
        assert snapshot.error
        assert "no answer within 1s" in snapshot.error
    finally:
        stop.set()
        thread.join()
        for sock in held:
            sock.close()
        listener.close()


def test_a_label_that_is_not_text_skips_its_series_not_the_read() -> None:
    """A Prometheus (or a proxy in front of one) answering a label as a list or object: that series is
    malformed and skipped; the read goes on and the others count."""
    series = [
        {"metric": {"instance": ["gpu-a"], TAG: "cpu"}, "value": [1, "5"]},
        {"metric": {"Hostname": {"a": 1}, "instance": "gpu-b:9100", TAG: "load1"}, "value": [1, "2"]},
        {"metric": {"instance": "gpu-c:9100", TAG: "load1"}, "value": [1, "3"]},
    ]
    body = {"status": "success", "data": {"resultType": "vector", "result": series}}
    server = FixedAnswer()
    try:
        server.body = json.dumps(body).encode()
        snapshot = _read(server.url)
    finally:
        server.close()
    assert [node.name for node in snapshot.nodes] == ["gpu-c"]
    assert snapshot.node("gpu-c").load1 == 3.0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("gpu-a:9100", "gpu-a"),
        ("[::1]:9100", "::1"),
        ("gpu-b", "gpu-b"),
        ("", None),
        (None, None),
        ("\x1b[2J:1", "\\x1b[2J"),
    ],
)
def test_node_names_lose_their_port(raw: object, name: str | None) -> None:
    assert node_name(raw) == name


def test_the_reader_reads_once_per_scrape_interval(lab: PromFleetLab) -> None:
    async def run() -> tuple[int, bool, int, int]:
        reader = PromFleetReader(PrometheusClient(lab.url), window=WINDOW, min_interval_s=0.1)
        first = await reader.read()
        again = await reader.read()  # within the lab's 1 s scrape interval: the same answer, no request
        same = again is first
        reads_within = reader.reads
        await asyncio.sleep(1.1)
        await reader.read()
        await reader.read(force=True)
        return reads_within, same, reader.reads, round(reader.interval_s())

    reads_within, same, reads, interval = asyncio.run(run())
    assert (reads_within, same, reads, interval) == (1, True, 3, 1)


def test_a_node_whose_samples_are_in_the_future_is_clock_skew_not_fresh() -> None:
    """A pushing source (remote write, a pushgateway's timestamps) whose clock runs 5 minutes ahead: the
    newest sample is in the future, which says nothing about how fresh it is."""
    now = time.time()
    series = [
        {"metric": {"instance": "gpu-a:9100", "job": "node", TAG: "fresh"}, "value": [now, str(now + 300)]},
        {"metric": {"instance": "gpu-b:9100", "job": "node", TAG: "fresh"}, "value": [now, str(now - 2)]},
    ]
    body = {"status": "success", "data": {"resultType": "vector", "result": series}}
    server = FixedAnswer()
    try:
        server.body = json.dumps(body).encode()
        snapshot = _read(server.url)
    finally:
        server.close()
    ahead, fresh = snapshot.node("gpu-a"), snapshot.node("gpu-b")
    assert ahead is not None
    assert fresh is not None
    assert ahead.ahead_s is not None
    assert 290 < ahead.ahead_s <= 300
    assert ahead.clock_skew == f"clock skew: samples {ahead.ahead_s:.0f} s in the future"
    assert fresh.clock_skew is None
    assert fresh.ahead_s is None
