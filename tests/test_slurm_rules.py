"""Slurm's inventory keys and check rules, on the parsed spec-shaped 25.11 output and hand-made nodes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.checks.model import Status
from console.checks.slurm_rules import evaluate_slurm, planned_slurm
from console.collectors.slurm_parse import parse_sinfo_json, parse_squeue_json
from console.inventory.loader import InventoryError, load_inventory
from console.inventory.model import Node, Thresholds
from console.model.slurm import SlurmMember, SlurmNode, SlurmSettings, SlurmSnapshot

FIXTURES = Path(__file__).parent / "fixtures" / "slurm" / "25.11"
NOW = datetime.fromtimestamp(1796556000, UTC)


def load(tmp_path: Path, text: str) -> dict[str, Node]:
    path = tmp_path / "inv.yaml"
    path.write_text(text)
    return {node.name: node for node in load_inventory(path).nodes}


def test_inventory_top_level_group_and_slurm_name(tmp_path: Path) -> None:
    nodes = load(
        tmp_path,
        "version: 1\nslurm: {via: head}\n"
        "groups:\n  other: {slurm: {via: head2}}\n"
        "nodes:\n  head: {host: h}\n  pod1: {host: p1, slurm_name: gpu01, gpus: {count: 8}}\n"
        "  head2: {host: h2, groups: [other]}\n  pod2: {host: p2, groups: [other]}\n",
    )
    assert nodes["pod1"].slurm == SlurmSettings("head")
    assert nodes["head"].slurm is not None
    assert nodes["head"].slurm.members == (SlurmMember("head", "head"), SlurmMember("pod1", "gpu01", 8))
    assert nodes["head2"].slurm is not None
    assert [m.name for m in nodes["head2"].slurm.members] == ["head2", "pod2"]
    assert planned_slurm(nodes["pod1"]) == ()  # only the via node reads and judges the cluster
    assert ("slurm.node", "pod1") in planned_slurm(nodes["head"])


def test_inventory_refuses_an_unknown_via(tmp_path: Path) -> None:
    with pytest.raises(InventoryError) as caught:
        load(tmp_path, "version: 1\nslurm: {via: nowhere}\nnodes:\n  a: {host: h}\n")
    assert "slurm.via" in str(caught.value)
    assert "'nowhere' is not a node" in str(caught.value)
    with pytest.raises(InventoryError):
        load(tmp_path, "version: 1\nslurm: {via: a, bogus: 1}\nnodes:\n  a: {host: h}\n")
    with pytest.raises(InventoryError, match="interval"):
        load(tmp_path, "version: 1\nnodes:\n  a: {host: h, slurm: {via: a, interval: -1}}\n")
    assert load(tmp_path, "version: 1\nslurm: {via: a, interval: 60}\nnodes:\n  a: {host: h}\n")["a"].slurm


def via(members: tuple[SlurmMember, ...], minutes: float = 30.0) -> Node:
    thresholds = replace(Thresholds(), slurm_pending_minutes=minutes)
    return Node("head", "h", slurm=SlurmSettings("head", members), thresholds=thresholds)


def snapshot(**changes: object) -> SlurmSnapshot:
    nodes, _ = parse_sinfo_json((FIXTURES / "sinfo.json").read_text())
    jobs, _ = parse_squeue_json((FIXTURES / "squeue.json").read_text())
    snap = SlurmSnapshot(
        "head", NOW, controller=True, controller_text="UP", nodes=nodes, jobs=jobs, source="json"
    )
    return replace(snap, **changes)  # type: ignore[arg-type]


MEMBERS = (
    SlurmMember("head", "head"),
    SlurmMember("pod1", "gpu01", 8),
    SlurmMember("pod3", "gpu03", 8),
    SlurmMember("pod4", "gpu04", 7),
)


def results(node: Node, snap: SlurmSnapshot | None) -> dict[tuple[str, str | None], tuple[Status, str]]:
    return {(r.check, r.target): (r.status, r.summary) for r in evaluate_slurm(node, snap)}


def test_node_states_reasons_and_the_cluster_s_other_nodes() -> None:
    got = results(via(MEMBERS), snapshot())
    assert got[("slurm.controller", None)][0] is Status.OK
    assert got[("slurm.node", "head")] == (Status.OK, "not a Slurm node (reads the cluster)")
    assert got[("slurm.node", "pod1")] == (Status.OK, "mixed")
    status, summary = got[("slurm.node", "pod3")]
    assert status is Status.CRITICAL
    assert summary == "drained: bad DIMM B2 (set by alice, 2026-12-06 09:20 UTC)"
    assert got[("slurm.node", "pod4")][0] is Status.CRITICAL  # down, not responding
    assert "gpu02" not in {target for _, target in got}  # not in the inventory and well: not reported
    sick = replace(snapshot().nodes[1], state="down", reason="power")
    others = results(via(MEMBERS), snapshot(nodes=(*snapshot().nodes[:1], sick, *snapshot().nodes[2:])))
    assert others[("slurm.node", "gpu02")][0] is Status.CRITICAL


def test_draining_warns_and_unknown_names_warn() -> None:
    draining = SlurmNode("gpu01", "mixed", ("DRAIN",), reason="reboot after jobs")
    got = results(via(MEMBERS), snapshot(nodes=(draining,)))
    assert got[("slurm.node", "pod1")] == (Status.WARNING, "draining: reboot after jobs")
    assert got[("slurm.node", "pod3")][0] is Status.WARNING  # Slurm does not know gpu03 now
    assert "slurm_name" in got[("slurm.node", "pod3")][1]


def test_controller_down_and_unread() -> None:
    assert results(via(MEMBERS), snapshot(controller=False))[("slurm.controller", None)][0] is Status.CRITICAL
    unread = results(via(MEMBERS), None)
    assert {status for status, _ in unread.values()} == {Status.UNKNOWN}
    assert set(unread) == set(planned_slurm(via(MEMBERS)))


def test_queue_warns_only_for_long_waits_that_are_not_priority_or_resources() -> None:
    # 102 waits 2 h on Priority (fine); 103 waits 90 min on Dependency.
    assert results(via(MEMBERS, 120), snapshot())[("slurm.queue", None)][0] is Status.OK
    status, summary = results(via(MEMBERS, 30), snapshot())[("slurm.queue", None)]
    assert status is Status.WARNING
    assert "job 103 (post-process, dave) pending 1h 30m: Dependency" in summary
    assert "102" not in summary
    later = snapshot(taken_at=NOW + timedelta(minutes=1))
    assert results(via(MEMBERS, 90), later)[("slurm.queue", None)][0] is Status.WARNING


def test_gres_against_the_node_s_gpus() -> None:
    got = results(via(MEMBERS), snapshot())
    assert got[("slurm.gres", "pod1")] == (Status.OK, "Slurm has 8 GPUs, 4 in use; the node has 8")
    assert got[("slurm.gres", "pod4")][0] is Status.WARNING  # Slurm 8, the node 7
    over = replace(snapshot().nodes[0], gpus_used=9)
    assert results(via(MEMBERS), snapshot(nodes=(over,)))[("slurm.gres", "pod1")][0] is Status.WARNING
