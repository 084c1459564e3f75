"""Node checks from a fleet read from Prometheus: the same ids and comparisons as over SSH; SSH-only checks
skipped with the reason; a stale node unknown with its age."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from console.checks.model import Status
from console.checks.prom_fleet_rules import evaluate_prom_node
from console.inventory.model import GpuExpectation, Node
from console.model.columns import RowInput
from console.model.node import NodeSnapshot
from console.model.prom_fleet import PromNode
from console.sections.prom_columns import detail, gpu_cells


def _prom(**figures: object) -> PromNode:
    return PromNode("gpu-x", **figures)  # type: ignore[arg-type]


def test_rules_from_series_judge_like_the_ssh_rules() -> None:
    node = Node("gpu-x", "gpu-x", gpus=GpuExpectation(count=4), power_budget_w=1000.0)
    planned = (
        ("ssh.reachable", None),
        ("gpu.present", None),
        ("docker.daemon", None),
        ("mounts.mounted", "/m"),
    )
    results = {
        r.check: r
        for r in evaluate_prom_node(
            node, _prom(gpu_count=4, gpu_temp_max_c=86.0, gpu_power_w=950.0, container_restarts=6), planned
        )
    }
    assert results["gpu.present"].status is Status.OK
    assert results["gpu.count"].status is Status.OK
    assert results["gpu.temperature"].status is Status.WARNING  # 86 against the default warn 85
    assert results["gpu.power"].status is Status.WARNING  # above 90 % of the budget
    assert results["container.restarts"].status is Status.CRITICAL  # 6 against the default crit 5
    # SSH-only checks are skipped with the reason, never unknown
    assert results["docker.daemon"].status is Status.SKIPPED
    assert results["ssh.reachable"].status is Status.SKIPPED
    assert "needs the node over SSH" in results["docker.daemon"].summary
    missing = {r.check: r for r in evaluate_prom_node(node, _prom(gpu_count=3), planned)}
    assert missing["gpu.count"].status is Status.CRITICAL
    assert missing["gpu.temperature"].status is Status.UNKNOWN  # GPUs without a temperature: never "ok"


def test_a_stale_node_is_unknown_with_its_age() -> None:
    node = Node("gpu-x", "gpu-x")
    stale = _prom(gpu_count=2, gpu_temp_max_c=99.0, age_s=45.0, scrape_interval_s=10.0)
    results = evaluate_prom_node(node, stale, ())
    assert stale.stale
    assert {r.status for r in results} == {Status.UNKNOWN}
    assert all("45s old" in r.summary and "stale" in r.summary for r in results)
    fresh = _prom(gpu_count=2, gpu_temp_max_c=99.0, age_s=25.0, scrape_interval_s=10.0)
    assert not fresh.stale
    assert Status.CRITICAL in {r.status for r in evaluate_prom_node(node, fresh, ())}


def test_samples_from_the_future_are_clock_skew_not_fresh() -> None:
    node = Node("gpu-x", "gpu-x")
    ahead = _prom(gpu_count=2, gpu_temp_max_c=99.0, age_s=0.0, ahead_s=300.0, scrape_interval_s=10.0)
    assert ahead.clock_skew == "clock skew: samples 300 s in the future"
    results = evaluate_prom_node(node, ahead, ())
    assert {r.status for r in results} == {Status.UNKNOWN}
    assert all(r.summary.startswith("clock skew: samples 300 s in the future; was: ") for r in results)
    # within a scrape interval is jitter between two clocks, not skew
    jitter = _prom(gpu_count=2, gpu_temp_max_c=99.0, age_s=0.0, ahead_s=4.0, scrape_interval_s=10.0)
    assert jitter.clock_skew is None
    assert Status.CRITICAL in {r.status for r in evaluate_prom_node(node, jitter, ())}


def test_the_fleet_row_says_clock_skew_and_dims_the_figures() -> None:
    ahead = _prom(gpu_count=2, gpu_util_pct=50.0, age_s=0.0, ahead_s=300.0, scrape_interval_s=10.0)
    said = detail(ahead)
    assert said.text == "Prometheus: clock skew: samples 300 s in the future"
    assert said.tone == "warn"
    node = Node("gpu-x", "gpu-x")
    row = RowInput(node, NodeSnapshot("gpu-x", datetime.now(UTC), reachable=True, prom=ahead))
    assert gpu_cells(row, ahead)["util"].tone == "dim"
    assert gpu_cells(row, replace(ahead, ahead_s=4.0))["util"].tone == ""  # jitter: fresh
