"""gpu.driver, gpu.ecc and gpu.power on the real H100 captures; end to end through `--check` on the lab."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.checks.gpu_rules import driver_matches, evaluate_gpu, planned_gpu
from console.checks.model import CheckResult, Perf, Status
from console.checks.rules import evaluate, planned_checks
from console.collectors.gpu import QUERY_FIELDS, GpuSnapshot, parse_query_gpu
from console.inventory.model import GpuExpectation, Node
from console.snapshots import NodeSnapshot
from tests.lab.sshd import LabNode, SshLab

ROOT = Path(__file__).resolve().parent.parent
H100 = ROOT / "tests" / "fixtures" / "gpu" / "h100-80gb-hbm3"
AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
IDLE_TEXT = (H100 / "idle-query-gpu-noheader-nounits.csv").read_text()
IDLE = parse_query_gpu(IDLE_TEXT)
LOAD = parse_query_gpu((H100 / "load-query-gpu-series.csv").read_text().splitlines()[0])
ECC_FIELD = QUERY_FIELDS.index("ecc.errors.uncorrected.volatile.total")


def snapshot(readings: Any) -> GpuSnapshot:
    return GpuSnapshot("gpu1", AT, "nvidia-smi", "ok", tuple(readings))


def by_check(results: tuple[CheckResult, ...]) -> dict[str, CheckResult]:
    return {result.check: result for result in results}


def test_the_captures_are_what_the_rules_are_tested_on() -> None:
    assert [(g.driver, g.power_draw_w, g.ecc_uncorrected) for g in IDLE] == [("580.159.04", 70.64, 0)]
    assert [(g.power_draw_w, g.ecc_uncorrected) for g in LOAD] == [(692.73, 0)]


def test_planned_gpu_checks_follow_the_inventory() -> None:
    assert planned_gpu(Node("n", "h")) == ("gpu.present", "gpu.temperature", "gpu.ecc")
    pinned = Node("n", "h", gpus=GpuExpectation(count=1, model="H100", driver="580"), power_budget_w=700)
    assert planned_gpu(pinned) == (
        "gpu.present",
        "gpu.count",
        "gpu.model",
        "gpu.driver",
        "gpu.temperature",
        "gpu.ecc",
        "gpu.power",
    )
    results = evaluate(pinned, NodeSnapshot("n", AT, True, gpu=snapshot(IDLE), connect_s=0.1))
    assert [(r.check, r.target) for r in results] == list(planned_checks(pinned))


def test_driver_pin_is_a_version_prefix() -> None:
    assert driver_matches("580.159.04", "580")
    assert driver_matches("580.159.04", "580.159")
    assert driver_matches("580.159.04", "580.159.04")
    assert not driver_matches("580.159.04", "590")
    assert not driver_matches("5800.1", "580")
    assert not driver_matches("580.159.04", "580.15")
    ok = by_check(evaluate_gpu(Node("n", "h", gpus=GpuExpectation(driver="580")), snapshot(IDLE)))
    assert ok["gpu.driver"].status is Status.OK
    assert ok["gpu.driver"].summary == "580.159.04 (pinned 580)"
    bad = by_check(evaluate_gpu(Node("n", "h", gpus=GpuExpectation(driver="590")), snapshot(IDLE)))
    assert bad["gpu.driver"].status is Status.CRITICAL
    assert bad["gpu.driver"].summary == "580.159.04, inventory pins 590"


def test_driver_unknown_without_gpus_or_version() -> None:
    node = Node("n", "h", gpus=GpuExpectation(driver="590"))
    assert by_check(evaluate_gpu(node, snapshot(())))["gpu.driver"].status is Status.UNKNOWN
    silent = [replace(IDLE[0], driver=None)]
    assert by_check(evaluate_gpu(node, snapshot(silent)))["gpu.driver"].status is Status.UNKNOWN


def test_ecc_clean_h100_is_ok_and_errors_are_critical_naming_the_gpus() -> None:
    node = Node("n", "h", gpus=GpuExpectation(count=1))
    clean = by_check(evaluate_gpu(node, snapshot(IDLE)))["gpu.ecc"]
    assert (clean.status, clean.summary) == (Status.OK, "no uncorrected ECC errors on 1 GPU")
    assert clean.perfdata == (Perf("gpu0_ecc_uncorrected", 0.0),)
    four = [replace(IDLE[0], index=i, ecc_uncorrected=errors) for i, errors in enumerate((0, 3, 0, 1))]
    bad = by_check(evaluate_gpu(node, snapshot(four)))["gpu.ecc"]
    assert bad.status is Status.CRITICAL
    assert bad.summary == "uncorrected ECC errors on GPU 1 (3), GPU 3 (1)"
    assert bad.fix is not None


def test_ecc_not_reported_is_ok_not_unknown() -> None:
    # A consumer board: the same row with the ECC column as nvidia-smi prints it there.
    row = IDLE_TEXT.strip().split(", ")
    row[ECC_FIELD] = "[N/A]"
    consumer = parse_query_gpu(", ".join(row))
    assert consumer[0].ecc_uncorrected is None
    result = by_check(evaluate_gpu(Node("n", "h"), snapshot(consumer)))["gpu.ecc"]
    assert (result.status, result.summary) == (Status.OK, "ECC not reported")
    mixed = by_check(evaluate_gpu(Node("n", "h"), snapshot([*IDLE, replace(consumer[0], index=1)])))
    assert mixed["gpu.ecc"].summary == "no uncorrected ECC errors on 1 GPU; 1 GPU without ECC reporting"


def test_power_against_the_budget() -> None:
    def power(readings: Any, budget: float) -> CheckResult:
        return by_check(evaluate_gpu(Node("n", "h", power_budget_w=budget), snapshot(readings)))["gpu.power"]

    idle = power(IDLE, 700)
    assert (idle.status, idle.summary) == (Status.OK, "1 GPU draws 70.6 W of a 700 W budget (10%)")
    assert idle.perfdata == (Perf("gpu_power_w", 70.64, "", 630.0, 700.0),)
    assert power(LOAD, 700).status is Status.WARNING  # 692.73 W > 90 % of 700
    assert power(LOAD, 770).status is Status.OK  # 90 % of 770 W is 693 W
    assert power(LOAD, 600).status is Status.CRITICAL
    four = [replace(LOAD[0], index=i) for i in range(4)]
    rack = power(four, 2800)
    assert rack.status is Status.WARNING
    assert rack.summary.startswith("4 GPUs draw 2770.9 W of a 2800 W budget")
    partial = power([*IDLE, replace(IDLE[0], index=1, power_draw_w=None)], 700)
    assert partial.summary.endswith("1 more does not report power, so this is a lower bound")
    assert power([replace(IDLE[0], power_draw_w=None)], 700).status is Status.UNKNOWN


def test_power_is_not_planned_without_a_budget() -> None:
    assert "gpu.power" not in by_check(evaluate_gpu(Node("n", "h"), snapshot(LOAD)))


def test_no_tooling_and_no_gpus_expected_stays_quiet() -> None:
    gpu = GpuSnapshot("n", AT, "nvidia-smi", "no_tooling", error="no GPU tooling: nvidia-smi not found")
    results = by_check(evaluate_gpu(Node("n", "h", power_budget_w=500), gpu))
    assert list(results) == ["gpu.present", "gpu.power"]
    assert {result.status for result in results.values()} == {Status.OK}
    expects = by_check(evaluate_gpu(Node("n", "h", gpus=GpuExpectation(count=1, driver="590")), gpu))
    assert expects["gpu.present"].status is Status.CRITICAL
    assert {expects[c].status for c in ("gpu.driver", "gpu.ecc")} == {Status.UNKNOWN}
    assert {r.status for r in evaluate_gpu(Node("n", "h"), None)} == {Status.UNKNOWN}


def run_check(inventory: Path) -> tuple[int, dict[str, dict[str, Any]]]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "console",
            "-i",
            str(inventory),
            "--check",
            "--format",
            "json",
            "--only",
            "gpu.*",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert done.stderr == "", done.stderr
    return done.returncode, {r["check"]: r for r in json.loads(done.stdout)["results"]}


def test_driver_ecc_and_power_end_to_end(ssh_lab: SshLab, gpu_node: LabNode, tmp_path: Path) -> None:
    # gpu1's nvidia-smi replays the idle H100 capture (the one stand-in: no GPU on test machines).
    good = tmp_path / "good.yaml"
    text = ssh_lab.inventory_yaml([gpu_node], gpus={"gpu1": {"count": 1, "driver": "580"}})
    good.write_text(text.replace("  gpu1:\n", "  gpu1:\n    power_budget_w: 700\n"))
    code, results = run_check(good)
    assert code == 0, results
    assert results["gpu.driver"]["summary"] == "580.159.04 (pinned 580)"
    assert results["gpu.ecc"]["summary"] == "no uncorrected ECC errors on 1 GPU"
    assert results["gpu.power"]["perfdata"] == {"gpu_power_w": 70.64}
    bad = tmp_path / "bad.yaml"
    text = ssh_lab.inventory_yaml([gpu_node], gpus={"gpu1": {"driver": "590"}})
    bad.write_text(text.replace("  gpu1:\n", "  gpu1:\n    power_budget_w: 75\n"))
    code, results = run_check(bad)
    assert code == 2
    assert (results["gpu.driver"]["status"], results["gpu.driver"]["summary"]) == (
        "critical",
        "580.159.04, inventory pins 590",
    )
    assert results["gpu.power"]["status"] == "warning"  # 70.64 W > 90 % of 75 W


def test_nan_temperature_is_unknown_and_never_hides_a_hot_gpu() -> None:
    # NaN compares false with everything: max() kept it when it came first, "OK hottest GPU 0 at nan °C".
    cold = replace(IDLE[0], index=0, temperature_c=float("nan"))
    hot = replace(IDLE[0], index=1, temperature_c=120.0)
    for readings in ([cold, hot], [hot, cold]):
        result = by_check(evaluate_gpu(Node("n", "h"), snapshot(readings)))["gpu.temperature"]
        assert result.status is Status.CRITICAL
        assert (
            result.summary
            == "hottest GPU 1 at 120 °C (warn 85, crit 95); 1 GPU without a readable temperature"
        )
        assert result.perfdata == (Perf("gpu1_temp", 120.0, "", 85, 95),)
    only_nan = by_check(evaluate_gpu(Node("n", "h"), snapshot([cold])))["gpu.temperature"]
    assert (only_nan.status, only_nan.summary) == (Status.UNKNOWN, "no GPU reports a temperature")


def test_non_finite_power_is_not_summed() -> None:
    inf = replace(IDLE[0], index=0, power_draw_w=float("inf"))
    fine = replace(IDLE[0], index=1, power_draw_w=100.0)
    result = by_check(evaluate_gpu(Node("n", "h", power_budget_w=700), snapshot([inf, fine])))["gpu.power"]
    assert result.status is Status.OK
    assert result.summary.startswith("1 GPU draws 100.0 W of a 700 W budget (14%)")
