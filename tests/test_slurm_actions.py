"""Slurm actions against the real Slurm lab: drain with a reason, resume, cancel a job; each confirmed,
audited (intent, then result), checked by reading the state back; never through the read-only wrapper."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.actions import ActionError, AuditLog, NotConfirmed
from console.actions.slurm import cancel_job, drain_node, resume_node
from console.inventory.model import Node, SSHSettings
from console.transport import SSHTransport
from console.transport.readonly import ReadOnlyTransport, ReadOnlyViolation
from tests.lab.slurm import SlurmLab
from tests.lab.slurm_fixtures import slurm_lab  # noqa: F401  (the fixture, by name)

pytestmark = pytest.mark.lab


@pytest.fixture
def hub(slurm_lab: SlurmLab) -> Iterator[SlurmLab]:  # noqa: F811
    assert slurm_lab.fleet is not None
    with slurm_lab.fleet.enter():
        yield slurm_lab


def via(lab: SlurmLab) -> Node:
    assert lab.fleet is not None
    return lab.fleet.node_model(lab.hosts[0])


def phases(audit: AuditLog) -> list[tuple[str, str, str, bool | None]]:
    return [(e["phase"], e["action"], e["target"], e["ok"]) for e in audit.lines()]


async def test_drain_resume_and_cancel_on_the_real_cluster(hub: SlurmLab, tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    node = via(hub)
    transport = SSHTransport(node)
    h0 = hub.hosts[0].name
    try:
        with pytest.raises(NotConfirmed):
            await drain_node(transport, node, h0, "no", audit=audit)
        assert audit.lines() == []  # refused before anything was written or run
        before = hub.node_state(h0)
        assert before in ("mixed", "allocated")  # one job on one of its GPUs (and one or both cores)

        drained = await drain_node(transport, node, h0, "swap GPU 0; ticket #42", audit=audit, confirmed=True)
        assert drained.ok, drained.detail
        assert hub.node_state(h0) == "draining"  # its job still runs
        reason = hub.run("sinfo", "-h", "-N", "-n", h0, "-o", "%E").stdout.strip()
        assert reason == "swap GPU 0; ticket #42"

        resumed = await resume_node(transport, node, h0, audit=audit, confirmed=True)
        assert resumed.ok, resumed.detail
        assert hub.node_state(h0) == before  # responding again, its job still running

        cancelled = await cancel_job(transport, node, hub.jobs["pending"], audit=audit, confirmed=True)
        assert cancelled.ok, cancelled.detail
        assert hub.job_state(hub.jobs["pending"]) == ""
    finally:
        await transport.close()
    assert phases(audit) == [
        ("intent", "slurm.drain", h0, None),
        ("result", "slurm.drain", h0, True),
        ("intent", "slurm.resume", h0, None),
        ("result", "slurm.resume", h0, True),
        ("intent", "slurm.cancel", hub.jobs["pending"], None),
        ("result", "slurm.cancel", hub.jobs["pending"], True),
    ]


async def test_a_refused_command_is_audited_as_failed(hub: SlurmLab, tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    node = via(hub)
    transport = SSHTransport(node)
    try:
        result = await drain_node(transport, node, "h9", "no such node", audit=audit, confirmed=True)
        with pytest.raises(ActionError, match="not in the queue"):
            await cancel_job(transport, node, "999999", audit=audit, confirmed=True)
    finally:
        await transport.close()
    assert not result.ok
    assert "Invalid node name" in result.detail
    assert [entry["phase"] for entry in audit.lines()] == ["intent", "result"]


async def test_never_through_the_read_only_wrapper(hub: SlurmLab, tmp_path: Path) -> None:
    """--check wraps every transport read-only: a Slurm action there is refused, and the node untouched."""
    audit = AuditLog(tmp_path / "audit.jsonl")
    node = via(hub)
    transport = ReadOnlyTransport(SSHTransport(node))
    h2 = hub.hosts[2].name
    try:
        with pytest.raises(ReadOnlyViolation):
            await resume_node(transport, node, h2, audit=audit, confirmed=True)
    finally:
        await transport.close()
    assert hub.node_state(h2) == "drained"


async def test_bad_values_never_reach_the_node(hub: SlurmLab, tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    node = via(hub)
    with pytest.raises(ActionError):
        await drain_node(SSHTransport(node), node, "h0; reboot", "x", audit=audit, confirmed=True)
    with pytest.raises(ActionError):
        await drain_node(SSHTransport(node), node, "h0", "line\nbreak", audit=audit, confirmed=True)
    with pytest.raises(ActionError):
        await cancel_job(SSHTransport(node), node, "1 2", audit=audit, confirmed=True)
    assert audit.lines() == []


async def test_a_queue_that_cannot_be_read_refuses_the_cancel(tmp_path: Path) -> None:
    """The check that the job is queued is a read before anything runs: when it cannot be made (the via node
    unreachable), the cancel is refused with why (an ActionError the screen shows), never a bare exception."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    node = Node(
        "via", "127.0.0.1", ssh=SSHSettings(port=port, connect_timeout=2.0, host_key_policy="accept-new")
    )
    audit = AuditLog(tmp_path / "audit.jsonl")
    transport = SSHTransport(node)
    try:
        with pytest.raises(ActionError, match="queue"):
            await cancel_job(transport, node, "12", audit=audit, confirmed=True)
    finally:
        await transport.close()
    assert audit.lines() == []  # nothing ran
