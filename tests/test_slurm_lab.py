"""The Slurm section against the real Slurm lab (Debian's 22.05, tests/lab/slurm.py): the collector over SSH
through the read-only wrapper, the text fallback's commands, and `opsconsole --check` end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from console.checks.model import Status
from console.checks.slurm_rules import evaluate_slurm
from console.collectors.slurm import SINFO_TEXT, SQUEUE_TEXT, collect_slurm, forget
from console.collectors.slurm_parse import parse_sinfo_text, parse_squeue_text
from console.inventory.model import GpuExpectation, Node
from console.model.slurm import SlurmMember, SlurmSettings
from console.sections import SECTIONS
from console.transport import SSHTransport
from console.transport.readonly import ReadOnlyTransport
from tests.lab.slurm import SlurmLab
from tests.lab.slurm_fixtures import slurm_lab  # noqa: F401  (the fixture, by name)

pytestmark = pytest.mark.lab
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def hub(slurm_lab: SlurmLab) -> Iterator[SlurmLab]:  # noqa: F811
    """The test runs inside the hub namespace, where the hosts' addresses exist."""
    assert slurm_lab.fleet is not None
    with slurm_lab.fleet.enter():
        yield slurm_lab


def via_node(lab: SlurmLab) -> Node:
    assert lab.fleet is not None
    members = tuple(SlurmMember(host.name, host.name, 1) for host in lab.hosts)
    node = lab.fleet.node_model(lab.hosts[0], gpus=GpuExpectation(count=1))
    return replace(node, slurm=SlurmSettings(lab.hosts[0].name, members, interval=0))  # read at every poll


async def test_collector_reads_the_real_cluster_read_only(hub: SlurmLab) -> None:
    node = via_node(hub)
    assert SECTIONS["slurm"].wanted(node)
    transport = ReadOnlyTransport(SSHTransport(node))  # only the section's declared commands may run
    try:
        snap = await collect_slurm(transport, node)
    finally:
        await transport.close()
    assert snap.error is None, snap.error
    assert (snap.controller, snap.source, snap.parser, snap.version) == (True, "json", "v0.0.38", "22.05.8")
    states = {n.name: n.shown_state for n in snap.nodes}
    assert states["h0"] in ("mixed", "allocated")  # one job: one GPU, one or both cores
    assert (states["h1"], states["h2"]) == ("draining", "drained")
    assert snap.node("h2").reason == "bad DIMM"  # type: ignore[union-attr]
    assert snap.node("h2").reason_by == hub.lab.user  # type: ignore[union-attr]
    running = {job.job_id: job for job in snap.running()}
    assert set(running) == {hub.jobs["running"], hub.jobs["busy"]}
    assert snap.gpu_jobs("h0")[0].job_id == hub.jobs["running"]  # GPU 0 of h0 -> the training job
    assert set(snap.gpu_jobs("h1")) == {0, 1}
    (pending,) = snap.pending()
    assert (pending.job_id, pending.reason) == (hub.jobs["pending"], "JobHeldUser")


async def test_text_fallback_commands_on_the_real_cluster(hub: SlurmLab) -> None:
    node = via_node(hub)
    transport = ReadOnlyTransport(SSHTransport(node))
    try:
        nodes = parse_sinfo_text((await transport.run(SINFO_TEXT, timeout=20)).stdout)[0]
        jobs = parse_squeue_text((await transport.run(SQUEUE_TEXT, timeout=20)).stdout)[0]
    finally:
        await transport.close()
    assert [n.shown_state for n in nodes][1:] == ["draining", "drained"]
    assert {j.job_id: j.state for j in jobs}[hub.jobs["pending"]] == "PENDING"


def run_check(lab: SlurmLab, inventory: Path, *args: str) -> tuple[int, dict[str, Any]]:
    assert lab.fleet is not None
    argv = [sys.executable, "-m", "console", "-i", str(inventory), "--check", "--format", "json", *args]
    done = subprocess.run(lab.fleet.hub_argv(argv), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.stderr == "", done.stderr
    return done.returncode, json.loads(done.stdout)


def test_check_mode_judges_the_real_cluster(slurm_lab: SlurmLab, tmp_path: Path) -> None:  # noqa: F811
    inventory = tmp_path / "slurm.yaml"
    text = slurm_lab.inventory_yaml()  # h0 reads the cluster; any pending job counts as long pending
    inventory.write_text(
        text.replace("  refresh: 2\n", "  refresh: 2\n  thresholds: {slurm_pending_minutes: 0}\n")
    )
    code, report = run_check(slurm_lab, inventory, "--only", "slurm.*", "--only", "ssh.*")
    results = {(r["check"], r["target"]): r for r in report["results"] if r["check"].startswith("slurm.")}
    assert {r["node"] for r in results.values()} == {"h0"}  # read and judged on the via node
    assert results[("slurm.controller", None)]["status"] == "ok"
    assert results[("slurm.node", "h0")]["status"] == "ok"
    assert results[("slurm.node", "h1")]["status"] == "warning"
    assert "draining: fan replaced soon" in results[("slurm.node", "h1")]["summary"]
    drained = results[("slurm.node", "h2")]
    assert drained["status"] == "critical"
    assert f"drained: bad DIMM (set by {slurm_lab.lab.user}" in drained["summary"]
    queue = results[("slurm.queue", None)]
    assert queue["status"] == "warning"
    assert f"job {slurm_lab.jobs['pending']} (waiting" in queue["summary"]
    assert "JobHeldUser" in queue["summary"]
    # Slurm's gres.conf gives each node two GPUs; the nodes report (and the inventory says) one.
    assert results[("slurm.gres", "h2")]["status"] == "warning"
    assert "Slurm has 2 GPUs" in results[("slurm.gres", "h2")]["summary"]
    assert code == 2


async def test_text_fallback_where_json_is_missing(hub: SlurmLab) -> None:
    node = via_node(hub)
    transport = ReadOnlyTransport(SSHTransport(node))
    try:
        with hub.without_json():
            snap = await collect_slurm(transport, node)
    finally:
        await transport.close()
    assert (snap.source, snap.parser, snap.error) == ("text", "text", None)
    assert [n.shown_state for n in snap.nodes][1:] == ["draining", "drained"]
    assert snap.node("h2").reason == "bad DIMM"  # type: ignore[union-attr]
    running = {job.job_id: job for job in snap.running()}
    assert running[hub.jobs["running"]].elapsed_s is not None
    assert running[hub.jobs["running"]].gpus == 1
    assert snap.pending()[0].reason == "JobHeldUser"


async def test_polls_within_the_interval_reuse_the_last_read(hub: SlurmLab) -> None:
    node = via_node(hub)
    assert node.slurm is not None
    node = replace(node, slurm=replace(node.slurm, interval=600))
    transport = ReadOnlyTransport(SSHTransport(node))
    try:
        first = await collect_slurm(transport, node)
        again = await collect_slurm(transport, node)
        forget(node.name)  # an action changed the cluster: read it now
        fresh = await collect_slurm(transport, node)
    finally:
        forget(node.name)
        await transport.close()
    assert again is first
    assert fresh is not first
    assert fresh.taken_at > first.taken_at


async def test_a_stopped_controller_is_judged_within_the_deadline(hub: SlurmLab) -> None:
    """slurmctld frozen (SIGSTOP): every client waits on it; the read ends at the node's command timeout
    with slurm.controller critical, never hanging the poll. Last in the module: it thaws the controller."""
    node = via_node(hub)
    node = replace(node, ssh=replace(node.ssh, command_timeout=2.0))
    transport = ReadOnlyTransport(SSHTransport(node))
    ctld = hub.processes[1]  # munged, then slurmctld (tests/lab/slurm.py starts them in that order)
    os.killpg(ctld.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        snap = await collect_slurm(transport, node)
        took = time.monotonic() - started
    finally:
        os.killpg(ctld.pid, signal.SIGCONT)
        await transport.close()
    assert took < 2.0 + 3.0
    assert snap.controller is False
    assert snap.controller_text == "scontrol ping: no answer within 2s"
    assert snap.error is not None
    results = {(r.check, r.target): r for r in evaluate_slurm(node, snap)}
    assert results[("slurm.controller", None)].status is Status.CRITICAL
    assert results[("slurm.node", "h2")].status is Status.UNKNOWN
