"""ConsoleSession: what the screens ask of the fleet, on the recorded fleet (no Textual here)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from console.actions import ActionError, NotConfirmed
from console.collectors.prometheus import PrometheusUnreachable, PromQLError
from console.demo.fleet import AT, recorded_fleet
from console.demo.sources import RecordedSource
from console.inventory.model import Inventory, Node
from console.session import ConsoleSession, LiveActions, QueryHistory, Settings
from console.snapshots import NodeSnapshot


def test_promql_history_is_kept_in_the_xdg_state_dir(isolated_home: Path) -> None:
    history = QueryHistory()
    assert history.path == isolated_home / ".local" / "state" / "opsconsole" / "promql_history"
    assert history.load() == []
    history.add("up")
    history.add("DCGM_FI_DEV_GPU_UTIL")
    assert history.add("up") == ["DCGM_FI_DEV_GPU_UTIL", "up"]  # used again: newest
    with history.path.open("a") as handle:
        handle.write("not json\n{}\n")
    assert QueryHistory().load() == ["DCGM_FI_DEV_GPU_UTIL", "up"]
    first = json.loads(history.path.read_text().splitlines()[0])
    assert first["query"] == "up"
    assert "time" in first


def test_promql_history_is_bounded(tmp_path: Path) -> None:
    history = QueryHistory(tmp_path / "h", limit=3)
    for number in range(10):
        history.add(f"q{number}")
    assert history.load() == ["q7", "q8", "q9"]
    assert len(history.path.read_text().splitlines()) <= 6  # compacted once past twice the limit


def test_theme_is_remembered_in_the_config_dir(isolated_home: Path) -> None:
    session = recorded_fleet().session()
    assert session.theme is None
    session.remember_theme("gruvbox")
    path = isolated_home / ".config" / "opsconsole" / "settings.json"
    assert json.loads(path.read_text()) == {"theme": "gruvbox"}
    assert recorded_fleet().session().theme == "gruvbox"
    Settings(path).set("other", 1)
    assert json.loads(path.read_text()) == {"other": 1, "theme": "gruvbox"}


async def test_restart_does_nothing_without_confirmation() -> None:
    fleet = recorded_fleet()
    session = fleet.session()
    with pytest.raises(NotConfirmed):
        await session.restart_container(fleet.inventory.node("gpu1"), "comfyui")
    with pytest.raises(NotConfirmed):
        await session.restart_container(fleet.inventory.node("gpu1"), "comfyui", confirmed=1)  # type: ignore[arg-type]
    assert fleet.actions.restarts == []
    assert session.audit.entries() == []


async def test_confirmed_restart_is_audited_and_changes_the_container() -> None:
    fleet = recorded_fleet()
    session = fleet.session()
    node = fleet.inventory.node("gpu1")
    result = await session.restart_container(node, "comfyui", confirmed=True)
    assert result.ok
    assert result.call == "POST /containers/comfyui/restart?t=10"
    (entry,) = session.audit.entries()
    assert (entry["node"], entry["action"], entry["target"], entry["ok"]) == (
        "gpu1",
        "docker.restart",
        "comfyui",
        True,
    )
    assert [line["phase"] for line in session.audit.lines()] == ["intent", "result"]
    snapshot = await session.poll(node)
    assert snapshot.docker is not None
    restarted = snapshot.docker.container("comfyui")
    assert restarted is not None
    assert restarted.started_at == AT
    missing = await session.restart_container(node, "nope", confirmed=True)
    assert not missing.ok
    assert missing.detail == "no container 'nope'"
    assert [e["ok"] for e in session.audit.entries()] == [True, False]


async def test_logs_tail_then_follow() -> None:
    fleet = recorded_fleet()
    session = fleet.session()
    node = fleet.inventory.node("gpu1")
    tail = [line async for line in session.tail_logs(node, "comfyui", lines=3, follow=False)]
    assert tail == [
        "got prompt",
        "100%|██████████| 28/28 [00:12<00:00,  2.23it/s]",
        "Prompt executed in 12.74 seconds",
    ]
    stream = session.tail_logs(node, "comfyui", lines=1)
    lines = [await anext(stream) for _ in range(4)]
    assert lines[0] == "Prompt executed in 12.74 seconds"
    assert lines[-1] == "Prompt executed in 12.81 seconds"
    with pytest.raises(TimeoutError):  # following: nothing more until the reader stops
        await asyncio.wait_for(anext(stream), 0.05)
    assert session.audit.lines() == []  # reading logs is not a mutation


async def test_a_session_without_a_connection_cannot_act() -> None:
    inventory = Inventory("t", "t", (Node("a", "h"),))
    session = ConsoleSession(inventory, RecordedSource({}))
    with pytest.raises(ActionError, match="no connection"):
        session.tail_logs(inventory.nodes[0], "web")
    with pytest.raises(ActionError, match="no connection to this node"):
        LiveActions({}).tail_logs(inventory.nodes[0], "web", 10, False, None)
    with pytest.raises(PrometheusUnreachable, match="no prometheus section"):
        await session.query("up")
    assert await session.fleet_checks() == ()


async def test_poll_never_raises_and_feeds_the_history() -> None:
    class Broken(RecordedSource):
        async def poll(self, node: Node, *, force: bool = False) -> NodeSnapshot:
            raise RuntimeError("bug")

    fleet = recorded_fleet()
    session = ConsoleSession(fleet.inventory, Broken({}))
    snapshot = await session.poll(fleet.inventory.node("gpu1"))
    assert not snapshot.reachable
    assert snapshot.error == "internal error: bug"
    seeded = fleet.session()
    assert len(seeded.history.node("gpu1")) == 30
    assert seeded.latest["gpu1"].taken_at == AT


async def test_promql_through_the_session() -> None:
    session = recorded_fleet().session()
    result = await session.query('DCGM_FI_DEV_GPU_UTIL{Hostname="gpu1"}')
    assert [s.label("gpu") for s in result.samples] == ["0"]
    start, end, step = session.window("5m")
    assert end == AT
    assert (end - start).total_seconds() == 300
    assert step == 2.5
    ranged = await session.query_range("DCGM_FI_DEV_GPU_UTIL", "24h")
    assert len(ranged.series) == 14
    assert len(ranged.series[0].points) == 121
    with pytest.raises(PromQLError, match="unclosed left parenthesis"):
        await session.query("sum(up")
    assert len(await session.metric_names()) == 11
    checks = {(r.node, r.check, r.status.value) for r in await session.fleet_checks()}
    assert ("gpu1", "prometheus.targets", "critical") in checks
    assert ("gpu1", "prometheus.alerts", "critical") in checks


def test_the_recorded_fleet_scales_for_the_benchmark() -> None:
    fleet = recorded_fleet(100, refresh=2.0, moving=True)
    names = [node.name for node in fleet.inventory.nodes]
    assert len(names) == len(set(names)) == 100
    assert names[:8] == ["gpu1", "rack-a1", "rack-a2", "rack-b1", "pod-7", "pod-8", "atlas", "cerberus"]
    assert names[-1] == "rack-l02"
    assert {node.refresh for node in fleet.inventory.nodes} == {2.0}
    series = fleet.past["rack-c01"]
    assert [s.taken_at for s in series] == sorted(s.taken_at for s in series)
    assert series[-1].taken_at == AT
