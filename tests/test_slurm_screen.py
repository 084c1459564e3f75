"""The Slurm screen on recorded data: the 25.11-shaped cluster (tests/fixtures/slurm, written from Slurm's
data_parser definitions) through a via node, member pods whose GPUs come from the real H100 captures.
`J` from the fleet and the palette open it; drain asks a reason, then a confirmation; a screenshot of it."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from console.collectors.slurm_parse import parse_sinfo_json, parse_squeue_json
from console.demo.fleet import AT, fixed_clock, recorded_fleet
from console.demo.sources import RecordedSource
from console.model.inventory import GpuExpectation, Inventory, Node, Thresholds
from console.model.node import NodeSnapshot
from console.model.slurm import SlurmMember, SlurmSettings, SlurmSnapshot
from console.session import ConsoleSession
from screens.app import OpsConsoleApp
from screens.confirm import ConfirmScreen
from screens.slurm import ReasonScreen, SlurmScreen
from widgets.slurm_tables import SlurmNodeTable, SlurmQueueTable

FIXTURES = Path(__file__).parent / "fixtures" / "slurm" / "25.11"
PODS = {"pod-1": "gpu01", "pod-2": "gpu02", "pod-3": "gpu03", "pod-4": "gpu04"}


def slurm_session() -> ConsoleSession:
    nodes, _ = parse_sinfo_json((FIXTURES / "sinfo.json").read_text())
    jobs, _ = parse_squeue_json((FIXTURES / "squeue.json").read_text())
    members = (SlurmMember("head", "head"), *(SlurmMember(pod, name, 8) for pod, name in PODS.items()))
    thresholds = replace(Thresholds(), slurm_pending_minutes=30)
    head = Node("head", "10.9.0.10", slurm=SlurmSettings("head", members), thresholds=thresholds)
    pods = [
        Node(
            pod,
            f"10.9.0.{i + 11}",
            slurm=SlurmSettings("head"),
            slurm_name=name,
            gpus=GpuExpectation(count=8),
        )
        for i, (pod, name) in enumerate(PODS.items())
    ]
    taken = AT
    # The recordings were made at 1796556000 (UTC); the clock of the demo fleet is AT: shift to it.
    shift = taken - datetime.fromtimestamp(1796556000, UTC)
    jobs = tuple(
        replace(
            job,
            submitted=job.submitted + shift if job.submitted else None,
            started=job.started + shift if job.started else None,
        )
        for job in jobs
    )
    cluster = SlurmSnapshot(
        "head", taken, True, "Slurmctld(primary) at head is UP", nodes, jobs, "json", "v0.0.44", "25.11.0",
        members=members,
    )  # fmt: skip
    recorded = recorded_fleet()
    gpu = recorded.source.snapshots["rack-a1"].gpu
    assert gpu is not None
    snapshots = {"head": NodeSnapshot("head", taken, True, slurm=cluster, connect_s=0.05)}
    for pod in PODS:
        count = 7 if pod == "pod-4" else 8  # pod-4 lost a GPU off the bus: Slurm still says 8
        boards = tuple(replace(gpu.gpus[i % len(gpu.gpus)], index=i) for i in range(count))
        snapshots[pod] = NodeSnapshot(pod, taken, True, gpu=replace(gpu, node=pod, gpus=boards))
    inventory = Inventory("slurm", "slurm", (head, *pods))
    return ConsoleSession(inventory, RecordedSource(snapshots), clock=fixed_clock)


async def settle(pilot: Pilot[None]) -> None:
    await pilot.app.settled()
    await pilot.pause()


async def open_with_j(pilot: Pilot[None]) -> None:
    await settle(pilot)
    await pilot.press("J")
    await settle(pilot)
    await pilot.pause(0.1)
    await settle(pilot)


@pytest.mark.parametrize("size", [(160, 40), (100, 30)], ids=["160x40", "100x30"])
def test_slurm_screen_snapshot(snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    app = OpsConsoleApp(slurm_session(), cursor_blink=False, batch_window_s=0)
    assert snap_compare(app, terminal_size=size, run_before=open_with_j)


async def test_j_opens_it_and_it_shows_the_cluster() -> None:
    app = OpsConsoleApp(slurm_session(), cursor_blink=False, batch_window_s=0)
    async with app.run_test(size=(160, 40)) as pilot:
        await open_with_j(pilot)
        screen = app.screen
        assert isinstance(screen, SlurmScreen)
        nodes = screen.query_one(SlurmNodeTable)
        assert nodes.cells("node|gpu03")["state"].plain == "drained"
        assert nodes.cells("node|gpu03")["reason"].plain == "bad DIMM B2"
        assert nodes.cells("node|gpu03")["who"].plain.startswith("alice")
        assert nodes.cells("node|gpu01")["holders"].plain == "0-3 job 101 · 4-7 free"
        assert nodes.cells("node|gpu02")["holders"].plain == "0-7 job 101"
        assert (nodes.cells("node|gpu04")["gpus"].plain, nodes.cells("node|gpu04")["reported"].plain) == (
            "8",
            "7",
        )
        queue = screen.query_one(SlurmQueueTable)
        assert queue.cells("job|103")["reason"].plain == "Dependency"
        assert queue.cells("job|103")["reason"].style == "yellow"  # 90 min on a dependency: stuck
        assert queue.cells("job|102")["reason"].style == "dim"  # Priority: waiting its turn
        assert queue.cells("job|101")["nodes"].plain == "gpu01,gpu02"


async def test_drain_asks_a_reason_then_confirmation() -> None:
    app = OpsConsoleApp(slurm_session(), cursor_blink=False, batch_window_s=0)
    async with app.run_test(size=(160, 40)) as pilot:
        await open_with_j(pilot)
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ReasonScreen)
        await pilot.press(*"swap PSU")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # no: nothing runs
        await pilot.pause()
        assert isinstance(app.screen, SlurmScreen)
        assert app.session.audit.lines() == []
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("escape")  # no reason: no question
        await pilot.pause()
        assert isinstance(app.screen, SlurmScreen)


async def test_the_palette_lists_it() -> None:
    from screens.commands import ConsoleCommands

    app = OpsConsoleApp(slurm_session(), cursor_blink=False, batch_window_s=0)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        provider = ConsoleCommands(app.screen)
        names = [name for name, _, _ in provider._commands()]
        assert "Slurm" in names
        dict((name, call) for name, _, call in provider._commands())["Slurm"]()
        await settle(pilot)
        assert isinstance(app.screen, SlurmScreen)


async def test_the_node_gpu_tab_says_which_job_holds_which_gpu() -> None:
    app = OpsConsoleApp(slurm_session(), cursor_blink=False, batch_window_s=0)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)  # the fleet polls every node, the via node's cluster read included
        app.open_node("pod-1", tab="gpus")
        await settle(pilot)
        note = str(app.screen.query_one("#gpu-note", Static).render())
        assert note.startswith("Slurm gpu01 mixed · GPU 0 job 101 bob ")
        assert "GPU 4 free" in note
        assert "%" in note  # each GPU's utilisation beside its job
        app.open_node("head", tab="gpus")
        await settle(pilot)
        assert "Slurm" not in str(app.screen.query_one("#gpu-note", Static).render())


async def test_hostile_slurm_text_is_shown_as_data() -> None:
    """Reasons, users and job names come from whoever drains a node or submits a job: markup, escapes and
    line breaks in them are shown, never interpreted (parsed at the boundary, drawn as Text)."""
    node = {
        "name": "gpu01",
        "state": "idle",
        "state_flags": ["DRAIN"],
        "gres": "gpu:8",
        "partitions": ["gpu"],
    }
    node |= {"reason": "[bold red]x[/] \x1b[2J\nrm", "reason_set_by_user": "[link=http://e]u[/link]"}
    hostile = {"nodes": [node]}
    job = {"job_id": 9, "job_state": "PENDING", "name": "[blink]j\x07", "user_name": "\x1b]0;t\x07"}
    job |= {"state_reason": "[/]", "submit_time": 1796556000}
    jobs = {"jobs": [job]}
    session = slurm_session()
    head = session.source.snapshots["head"]  # type: ignore[attr-defined]
    assert head.slurm is not None
    cluster = replace(
        head.slurm,
        nodes=parse_sinfo_json(json.dumps(hostile))[0],
        jobs=parse_squeue_json(json.dumps(jobs))[0],
    )
    session.source.snapshots["head"] = replace(head, slurm=cluster)  # type: ignore[attr-defined]
    app = OpsConsoleApp(session, cursor_blink=False, batch_window_s=0)
    async with app.run_test(size=(160, 40)) as pilot:
        await open_with_j(pilot)
        nodes = app.screen.query_one(SlurmNodeTable)
        reason = nodes.cells("node|gpu01")["reason"].plain
        assert reason.startswith("[bold red]x[/] ")
        assert "\x1b" not in reason
        assert "\n" not in reason
        assert nodes.cells("node|gpu01")["who"].plain.startswith("[link=http://e]u[/link]")
        queue = app.screen.query_one(SlurmQueueTable)
        assert queue.cells("job|9")["name"].plain.startswith("[blink]j")
        assert "\x07" not in queue.cells("job|9")["name"].plain
        assert "\x1b" not in queue.cells("job|9")["user"].plain
        await pilot.press("tab")
        await pilot.pause()
        detail = str(app.screen.query_one("#slurm-detail", Static).render())
        assert "\x1b" not in detail
