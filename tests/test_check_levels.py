"""The levels the tables colour by: decided once, beside the check results, from the same snapshot."""

from __future__ import annotations

from dataclasses import replace

from console.checks.levels import NodeLevels, at_or_above, errors_level, node_levels
from console.checks.model import Status
from console.checks.rules import evaluate
from console.demo.fleet import recorded_fleet
from console.inventory.model import Threshold
from console.snapshots import NodeSnapshot

LIMITS = Threshold(warn=85.0, crit=95.0)


def test_at_or_above_is_the_rules_comparison() -> None:
    assert at_or_above(84.9, LIMITS) is Status.OK
    assert at_or_above(85.0, LIMITS) is Status.WARNING
    assert at_or_above(95.0, LIMITS) is Status.CRITICAL
    assert at_or_above(None, LIMITS) is Status.UNKNOWN
    assert at_or_above(float("nan"), LIMITS) is Status.UNKNOWN  # never "warning" by a failed comparison


def test_errors_level_is_the_ecc_rules_comparison() -> None:
    assert errors_level(0) is Status.OK
    assert errors_level(3) is Status.CRITICAL
    assert errors_level(None) is Status.UNKNOWN


def test_ecc_per_board_and_a_slow_handshake() -> None:
    fleet = recorded_fleet()
    node = fleet.inventory.node("rack-a1")
    recorded = fleet.source.snapshots["rack-a1"]
    assert recorded.gpu is not None
    first, *rest = recorded.gpu.gpus
    gpus = (replace(first, ecc_uncorrected=2), *(replace(r, ecc_uncorrected=0) for r in rest))
    snapshot = replace(recorded, gpu=replace(recorded.gpu, gpus=gpus), connect_s=2.5)
    levels = node_levels(node, snapshot, evaluate(node, snapshot))
    assert levels.ecc_level(0) is Status.CRITICAL
    assert levels.ecc_level(1) is Status.OK
    assert levels.slow_connect
    quick = replace(snapshot, connect_s=0.2)
    assert not node_levels(node, quick, evaluate(node, quick)).slow_connect


def hot(snapshot: NodeSnapshot, *temps: float) -> NodeSnapshot:
    assert snapshot.gpu is not None
    readings = tuple(
        replace(reading, temperature_c=temp) for reading, temp in zip(snapshot.gpu.gpus, temps, strict=False)
    )
    return replace(snapshot, gpu=replace(snapshot.gpu, gpus=readings + snapshot.gpu.gpus[len(readings) :]))


def test_gpu_levels_per_board_and_the_hottest_from_the_temperature_rule() -> None:
    fleet = recorded_fleet()
    node = fleet.inventory.node("rack-a1")
    snapshot = hot(fleet.source.snapshots["rack-a1"], 96.0, 90.0, 40.0)
    results = evaluate(node, snapshot)
    levels = node_levels(node, snapshot, results)
    rule = next(result for result in results if result.check == "gpu.temperature")
    assert levels.temperature is rule.status is Status.CRITICAL
    assert levels.gpu_level(0) is Status.CRITICAL
    assert levels.gpu_level(1) is Status.WARNING
    assert levels.gpu_level(2) is Status.OK
    assert levels.gpu_level(9) is None


def test_tallies_restarts_mounts_and_binds_of_the_showcase() -> None:
    fleet = recorded_fleet()

    def levels_of(name: str) -> NodeLevels:
        node, snapshot = fleet.inventory.node(name), fleet.source.snapshots[name]
        return node_levels(node, snapshot, evaluate(node, snapshot))

    short = levels_of("rack-a2")  # one GPU missing, its trainer down and crash-looping
    assert short.gpus is not None
    assert (short.gpus.good, short.gpus.expected) == (3, 4)
    assert short.gpus.level is Status.CRITICAL
    assert short.containers is not None
    assert (short.containers.good, short.containers.expected) == (0, 1)
    assert short.containers.level is Status.CRITICAL
    assert short.restart_level("trainer") is Status.CRITICAL
    hung = levels_of("pod-7")
    assert hung.mounts is not None
    assert hung.mounts.hung
    assert hung.mounts.level is Status.CRITICAL
    gpu1 = levels_of("gpu1")
    assert gpu1.containers is not None
    assert gpu1.containers.level is Status.OK
    assert gpu1.restart_level("open-webui") is Status.WARNING
    finding = gpu1.bind("comfyui")
    assert finding is not None
    assert finding.verdict == "exposed"
    assert levels_of("cerberus") == NodeLevels()  # down: nothing to colour


def test_the_session_judges_a_snapshot_once() -> None:
    fleet = recorded_fleet()
    session = fleet.session(seed=False)
    node = fleet.inventory.node("rack-a2")
    assert session.verdict(node).results == ()
    session.record(fleet.source.snapshots["rack-a2"])
    first = session.verdict(node)
    assert session.verdict(node) is first
    assert session.checks(node) is first.results
    session.record(hot(fleet.source.snapshots["rack-a2"], 99.0))
    again = session.verdict(node)
    assert again is not first
    assert again.levels.temperature is Status.CRITICAL
