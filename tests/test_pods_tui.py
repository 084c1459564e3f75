"""A pod's node screen on the recorded fleet: pod-8 is a container with no Docker socket (told from the
node: the watcher's snapshot carries why), so its Containers tab says so once, in grey, and its checks
list one skipped docker.engine line, never a red error."""

from __future__ import annotations

from dataclasses import replace

from textual.pilot import Pilot
from textual.widgets import Static

from console.demo.fleet import RecordedFleet, recorded_fleet
from console.demo.sources import RecordedSource
from console.model.docker import DockerSnapshot
from console.model.inventory import DockerSettings
from screens.app import OpsConsoleApp

NARROW = (80, 24)
SIGNS = "a container: /.dockerenv, PID 1 is sleep, no systemd"
MISSING = "no Docker socket at /var/run/docker.sock (is dockerd running?)"


def pod_fleet() -> RecordedFleet:
    """The recorded fleet with pod-8 watched for Docker (as `defaults: {docker: {}}` would) and found to be
    a pod without it."""
    fleet = recorded_fleet()
    nodes = tuple(
        replace(node, docker=DockerSettings()) if node.name == "pod-8" else node
        for node in fleet.inventory.nodes
    )
    latest = {name: series[-1] for name, series in fleet.past.items()}
    pod = latest["pod-8"]
    latest["pod-8"] = replace(
        pod, docker=DockerSnapshot("pod-8", pod.taken_at, None, error=MISSING, pod=SIGNS)
    )
    inventory = replace(fleet.inventory, nodes=nodes)
    return replace(fleet, inventory=inventory, source=RecordedSource(latest))


async def open_tab(pilot: Pilot[None], tab: str) -> None:
    await pilot.app.settled()
    await pilot.pause()
    pilot.app.open_node("pod-8", tab=tab)  # type: ignore[attr-defined]
    await pilot.app.settled()
    await pilot.pause()


async def containers(pilot: Pilot[None]) -> None:
    await open_tab(pilot, "containers")


async def checks(pilot: Pilot[None]) -> None:
    await open_tab(pilot, "checks")


def app() -> OpsConsoleApp:
    return OpsConsoleApp(pod_fleet().session(), cursor_blink=False, batch_window_s=0)


def test_a_pods_containers_tab_says_no_docker_once(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app(), terminal_size=NARROW, run_before=containers)


def test_a_pods_checks_skip_docker_in_one_line(snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app(), terminal_size=NARROW, run_before=checks)


async def test_the_pods_note_is_grey_and_the_checks_are_clean() -> None:
    async with app().run_test(size=NARROW) as pilot:
        await containers(pilot)
        note = pilot.app.screen.query_one("#containers-note", Static)
        assert str(note.render()) == f"no Docker on this node ({SIGNS})"
        session = pilot.app.session  # type: ignore[attr-defined]
        verdict = session.verdict(session.inventory.node("pod-8"))
        docker = [result for result in verdict.results if result.check.startswith("docker.")]
        assert [(result.check, result.status.value) for result in docker] == [("docker.engine", "skipped")]
