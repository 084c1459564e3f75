"""Check rules and report shape, on snapshots built from the real H100 captures."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from console.checks.model import CheckReport, CheckResult, Perf, Status
from console.checks.report_text import render_json, render_text
from console.checks.rules import evaluate, planned_checks
from console.collectors.gpu import GpuSnapshot, parse_query_gpu
from console.inventory.model import GpuExpectation, Node, Threshold, Thresholds
from console.snapshots import NodeSnapshot

H100 = Path(__file__).parent / "fixtures" / "gpu" / "h100-80gb-hbm3"
AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
IDLE = parse_query_gpu((H100 / "idle-query-gpu-noheader-nounits.csv").read_text())


def up(node: str, gpu: GpuSnapshot) -> NodeSnapshot:
    return NodeSnapshot(node, AT, True, gpu=gpu, connect_s=0.1)


def by_check(results: tuple[CheckResult, ...]) -> dict[str, CheckResult]:
    return {result.check: result for result in results}


def test_healthy_h100_node_is_ok() -> None:
    node = Node("gpu1", "h", gpus=GpuExpectation(count=1, model="H100"))
    results = by_check(evaluate(node, up("gpu1", GpuSnapshot("gpu1", AT, "nvidia-smi", "ok", IDLE))))
    assert list(results) == [check for check, _ in planned_checks(node)]
    assert {r.status for r in results.values()} == {Status.OK}
    assert results["gpu.count"].summary == "1 GPU found"
    assert "NVIDIA H100 80GB HBM3" in results["gpu.present"].summary


def test_count_and_model_mismatch_are_critical() -> None:
    node = Node("gpu1", "h", gpus=GpuExpectation(count=2, model="A100"))
    results = by_check(evaluate(node, up("gpu1", GpuSnapshot("gpu1", AT, "nvidia-smi", "ok", IDLE))))
    assert results["gpu.count"].status is Status.CRITICAL
    assert results["gpu.count"].summary == "1 GPU found, inventory expects 2"
    assert results["gpu.model"].status is Status.CRITICAL
    assert "'A100'" in results["gpu.model"].summary


def test_temperature_thresholds_from_the_node() -> None:
    warm = Node("gpu1", "h", thresholds=Thresholds(gpu_temperature=Threshold(warn=40, crit=50)))
    hot = Node("gpu1", "h", thresholds=Thresholds(gpu_temperature=Threshold(warn=30, crit=42)))
    snap = up("gpu1", GpuSnapshot("gpu1", AT, "nvidia-smi", "ok", IDLE))
    assert by_check(evaluate(warm, snap))["gpu.temperature"].status is Status.WARNING
    assert by_check(evaluate(hot, snap))["gpu.temperature"].status is Status.CRITICAL
    default = by_check(evaluate(Node("gpu1", "h"), snap))["gpu.temperature"]
    assert default.status is Status.OK
    assert default.perfdata == (Perf("gpu0_temp", 42.0, "", 85.0, 95.0),)


def test_no_tooling_is_ok_when_nothing_is_expected_and_critical_when_gpus_are() -> None:
    snap = up(
        "n", GpuSnapshot("n", AT, "nvidia-smi", "no_tooling", error="no GPU tooling: nvidia-smi not found")
    )
    plain = by_check(evaluate(Node("n", "h"), snap))
    assert plain["gpu.present"].status is Status.OK
    assert "nvidia-smi not found" in plain["gpu.present"].summary
    expects = by_check(evaluate(Node("n", "h", gpus=GpuExpectation(count=4)), snap))
    assert expects["gpu.present"].status is Status.CRITICAL
    assert expects["gpu.count"].status is Status.UNKNOWN


def test_unreachable_node_is_one_critical_and_the_rest_skipped() -> None:
    node = Node("n", "h", gpus=GpuExpectation(count=1))
    results = evaluate(node, NodeSnapshot("n", AT, False, error="h:22: connection refused"))
    assert results[0].check == "ssh.reachable"
    assert results[0].status is Status.CRITICAL
    assert {(r.status, r.summary) for r in results[1:]} == {
        (Status.SKIPPED, "node unreachable (see ssh.reachable)")
    }
    assert [(r.check, r.target) for r in results] == list(planned_checks(node))
    report = CheckReport("lab", results, 0.1)
    assert (report.status, report.exit_code) == (Status.CRITICAL, 2)
    assert render_text(report).splitlines()[0] == "CRITICAL lab: 1 critical (0.10s)"


def test_worst_status_wins_and_sets_the_exit_code() -> None:
    def report(*statuses: Status) -> CheckReport:
        return CheckReport(
            "lab", tuple(CheckResult("n", f"c.{i}", s, "x") for i, s in enumerate(statuses)), 0.5
        )

    assert report(Status.OK, Status.OK).exit_code == 0
    assert report(Status.OK, Status.WARNING).exit_code == 1
    assert report(Status.WARNING, Status.UNKNOWN).exit_code == 3
    assert report(Status.UNKNOWN, Status.CRITICAL, Status.WARNING).exit_code == 2
    assert CheckReport("lab", (), 0.1, errors=("boom",)).exit_code == 3


def test_json_shape() -> None:
    result = CheckResult("gpu1", "gpu.count", Status.CRITICAL, "1 GPU found, inventory expects 2")
    data = json.loads(render_json(CheckReport("lab", (result,), 1.4213)))
    assert data == {
        "inventory": "lab",
        "status": "critical",
        "exit_code": 2,
        "duration_s": 1.421,
        "results": [
            {
                "node": "gpu1",
                "check": "gpu.count",
                "target": None,
                "status": "critical",
                "summary": "1 GPU found, inventory expects 2",
                "fix": None,
            }
        ],
    }


def test_text_groups_by_node_worst_first() -> None:
    results = (
        CheckResult("a", "ssh.reachable", Status.OK, "fine"),
        CheckResult("b", "ssh.reachable", Status.CRITICAL, "refused"),
        CheckResult("b", "gpu.present", Status.UNKNOWN, "node unreachable"),
    )
    text = render_text(CheckReport("lab", results, 0.2))
    lines = text.splitlines()
    assert lines[0].startswith("CRITICAL lab: 1 ok, 1 critical, 1 unknown")
    assert lines.index("b") < lines.index("a")
    assert "\x1b[" not in text
    assert "\x1b[31m" in render_text(CheckReport("lab", results, 0.2), color=True)


def test_reachable_says_the_real_handshake_time_and_the_connection_age() -> None:
    # Before: "connected in 0.00s", the time a pooled connection took to be handed back.
    node = Node("gpu1", "h")
    handshake = NodeSnapshot(
        "gpu1", AT, True, connect_s=0.123, connected_at=AT - timedelta(minutes=3, seconds=5)
    )
    assert by_check(evaluate(node, handshake))["ssh.reachable"].summary == "connected in 0.12s, up 3m"
    day = replace(handshake, connected_at=AT - timedelta(days=1, hours=2, minutes=9))
    assert by_check(evaluate(node, day))["ssh.reachable"].summary == "connected in 0.12s, up 1d 2h"
    fresh = replace(handshake, connected_at=AT - timedelta(seconds=0.4))  # one --check run's own connection
    assert by_check(evaluate(node, fresh))["ssh.reachable"].summary == "connected in 0.12s"
    no_age = replace(handshake, connected_at=None)
    assert by_check(evaluate(node, no_age))["ssh.reachable"].summary == "connected in 0.12s"
    unknown = NodeSnapshot("gpu1", AT, True)
    assert by_check(evaluate(node, unknown))["ssh.reachable"].summary == (
        "connected (connection reused; handshake time not recorded)"
    )
    local = Node("here", "localhost", transport="local")
    assert by_check(evaluate(local, unknown))["ssh.reachable"].summary == "local"
