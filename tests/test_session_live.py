"""ConsoleSession on the real lab: quitting while a request hangs, containers after an action, the
connection's real handshake time, and the fleet's Prometheus problem count."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from console.inventory import load_inventory
from console.session import ConsoleSession
from tests.lab.docker_fixtures import IMAGE, DockerLab
from tests.lab.prometheus import ALWAYS_FIRING, PrometheusLab
from tests.lab.sshd import LabNode, SshLab
from tests.test_prometheus_deadlines import MisbehavingHttp

ROOT = Path(__file__).resolve().parent.parent


def write_inventory(
    ssh_lab: SshLab, node: LabNode, tmp_path: Path, *, prometheus: str = "", extra: str = ""
) -> Path:
    text = ssh_lab.inventory_yaml([node])
    if prometheus:
        text = text.replace("nodes:\n", f"prometheus: {prometheus}\nnodes:\n", 1)
    path = tmp_path / "lab.yaml"
    path.write_text(text + extra)
    return path


QUIT_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys, time
    from console.inventory import load_inventory
    from console.session import ConsoleSession

    async def main() -> None:
        session = ConsoleSession.live(load_inventory(sys.argv[1]))
        node = session.inventory.nodes[0]
        await session.poll(node)
        asking = [asyncio.ensure_future(session.fleet_checks()), asyncio.ensure_future(session.query("up"))]
        await asyncio.sleep(1.0)  # both requests are in flight, the server holding them
        started = time.monotonic()
        await session.close()
        print(f"closed {time.monotonic() - started:.2f}", flush=True)
        await asyncio.sleep(0)  # the cancelled requests' callers see it on their next step
        print("finished", sum(task.done() for task in asking), flush=True)

    asyncio.run(main())  # as the TUI's quit ends: the loop, then the interpreter
    """
)


def test_quitting_while_prometheus_hangs_is_immediate(
    ssh_lab: SshLab, gpu_node: LabNode, tmp_path: Path
) -> None:
    # Prometheus answers nothing (or one byte every 2 s) with a 30 s timeout; the session must still close
    # at once, and the process end at once: no thread left waiting on the server.
    for mode in ("silent", "trickle"):
        server = MisbehavingHttp(mode)
        try:
            inventory = write_inventory(
                ssh_lab, gpu_node, tmp_path, prometheus=f"{{url: '{server.url}', via: gpu1, timeout: 30}}"
            )
            started = time.monotonic()
            done = subprocess.run(
                [sys.executable, "-c", QUIT_SCRIPT, str(inventory)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=60,
            )
            wall = time.monotonic() - started
        finally:
            server.close()
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
        words = done.stdout.split()
        assert float(words[1]) < 1.5, (mode, done.stdout)
        assert words[2:] == ["finished", "2"], (mode, done.stdout)  # close() cancelled both requests
        assert server.connections >= 1
        assert wall < 1.0 + 1.5 + 8.0, (mode, wall)  # start-up and one poll, the wait, the close: never 30 s


async def test_a_container_action_relists_the_node(
    ssh_lab: SshLab, gpu_node: LabNode, docker_lab: DockerLab, tmp_path: Path
) -> None:
    # After a restart the session lists the node's containers again before it returns: the next poll shows
    # the container as it is now (new start time), not as the last event-driven list saw it.
    name = f"action-probe-{os.getpid()}"
    await asyncio.to_thread(docker_lab.run_container, name, "--init", IMAGE, "sleep", "600")
    inventory = load_inventory(
        write_inventory(ssh_lab, gpu_node, tmp_path, extra=f"    docker: {{socket: '{docker_lab.socket}'}}\n")
    )
    session = ConsoleSession.live(inventory)
    node = inventory.nodes[0]
    try:
        first = await session.poll(node)
        assert first.docker is not None
        before = first.docker.container(name)
        assert before is not None
        assert before.started_at is not None
        await session.restart_container(node, name, confirmed=True)
        after = await session.poll(node)
    finally:
        await session.close()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(docker_lab.remove, name)
    assert after.docker is not None
    restarted = after.docker.container(name)
    assert restarted is not None
    assert restarted.state == "running"
    assert restarted.started_at is not None
    assert restarted.started_at > before.started_at


async def test_connect_time_is_the_real_handshake_and_the_connection_has_an_age(
    ssh_lab: SshLab, gpu_node: LabNode, tmp_path: Path
) -> None:
    inventory = load_inventory(write_inventory(ssh_lab, gpu_node, tmp_path))
    session = ConsoleSession.live(inventory)
    node = inventory.nodes[0]
    try:
        first = await session.poll(node)
        await asyncio.sleep(0.2)
        second = await session.poll(node)  # the pooled connection, reused
    finally:
        await session.close()
    assert first.connect_s is not None
    assert first.connect_s > 0.001  # a real SSH handshake, never the ~0 of handing back a pooled one
    assert second.connect_s == first.connect_s  # the same connection: the same handshake
    assert first.connected_at is not None
    assert second.connected_at == first.connected_at
    assert first.connected_at <= first.taken_at
    assert (second.taken_at - second.connected_at).total_seconds() >= 0.2


async def test_fleet_prometheus_problems_are_counted(
    prometheus_lab: PrometheusLab, ssh_lab: SshLab, gpu_node: LabNode, tmp_path: Path
) -> None:
    inventory = load_inventory(
        write_inventory(
            ssh_lab, gpu_node, tmp_path, prometheus=f"{{url: '{prometheus_lab.url}', timeout: 5}}"
        )
    )
    session = ConsoleSession.live(inventory)
    try:
        assert session.prometheus_problems is None  # not asked yet
        results = await session.fleet_checks()
    finally:
        await session.close()
    problems = session.prometheus_problems
    assert problems is not None
    # The lab: LabAlwaysFiring fires (LabPending only pends), and the `dead` target is down.
    assert (problems.firing, problems.down, problems.error) == (1, 1, None)
    assert problems.count == 2
    assert any(r.target == ALWAYS_FIRING for r in results)


async def test_fleet_problems_unknown_when_prometheus_cannot_be_asked(
    prometheus_lab: PrometheusLab, ssh_lab: SshLab, gpu_node: LabNode, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{prometheus_lab.dead_port}"
    inventory = load_inventory(
        write_inventory(ssh_lab, gpu_node, tmp_path, prometheus=f"{{url: '{url}', timeout: 2}}")
    )
    session = ConsoleSession.live(inventory)
    try:
        await session.fleet_checks()
    finally:
        await session.close()
    problems = session.prometheus_problems
    assert problems is not None
    assert problems.count is None
    assert problems.error == f"Prometheus at {url} unreachable: connection refused"


TUI_QUIT_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from console.inventory import load_inventory
    from console.session import ConsoleSession
    from screens.app import OpsConsoleApp

    pressed = []

    async def operator(pilot) -> None:
        await pilot.pause(2.5)  # the fleet screen has asked Prometheus; the server holds the request
        pressed.append(time.monotonic())
        print(f"pressed {time.time()}", flush=True)
        await pilot.press("q")

    app = OpsConsoleApp(ConsoleSession.live(load_inventory(sys.argv[1])), cursor_blink=False)
    app.run(headless=True, auto_pilot=operator)
    print(f"quit {time.monotonic() - pressed[0]:.2f}", flush=True)
    """
)


def test_the_tui_quits_at_once_while_prometheus_hangs(
    ssh_lab: SshLab, gpu_node: LabNode, tmp_path: Path
) -> None:
    server = MisbehavingHttp("trickle")
    try:
        inventory = write_inventory(
            ssh_lab, gpu_node, tmp_path, prometheus=f"{{url: '{server.url}', via: gpu1, timeout: 30}}"
        )
        done = subprocess.run(
            [sys.executable, "-c", TUI_QUIT_SCRIPT, str(inventory)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        ended = time.time()
        connections = server.connections
    finally:
        server.close()
    assert done.returncode == 0, done.stderr[-2000:]
    assert connections >= 1  # the fleet screen's Prometheus request was in flight
    # From `q` to the app's return, and to the process's end (no thread left to join): a second or so.
    words = done.stdout.split()
    assert words[0] == "pressed", done.stdout
    assert float(words[-1]) < 2.0, done.stdout
    assert ended - float(words[1]) < 3.0, done.stdout
