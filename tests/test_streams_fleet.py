"""Streams on real sshd hosts in network namespaces (tests/lab/netns.py), with exact process accounting.

The hosts run in one pid namespace of their own, so `fleet.spawned()` counts every process they started,
short-lived ones included: a warm refresh must start none for GPU and container data.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Iterator

import asyncssh
import pytest

from console.inventory.model import DockerSettings, GpuExpectation, Inventory, Node
from console.snapshots import NodeSnapshot
from console.streams.basics_shell import BasicsStream
from console.streams.gpu_stream import GpuStream
from console.streams.source import StreamingSource
from console.transport import SSHTransport
from tests.lab.docker_fixtures import IMAGE, DockerLab
from tests.lab.netns import NetnsFleet
from tests.lab.sshd import SshLab

DEADLINE_S = 15.0


async def eventually(condition: Callable[[], bool], what: str, timeout: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g}s: {what}")
        await asyncio.sleep(0.02)


@pytest.fixture(scope="module")
def fleet(ssh_lab: SshLab) -> Iterator[NetnsFleet]:
    with NetnsFleet(ssh_lab, 2) as made:
        yield made


@pytest.fixture
def hub(fleet: NetnsFleet) -> Iterator[NetnsFleet]:
    """The test runs inside the hub namespace, where the hosts' addresses exist."""
    with fleet.enter():
        yield fleet


async def warm_up(source: StreamingSource, node: Node) -> NodeSnapshot:
    """Cold poll, then a second one, which starts the slow background reads (disk use, GPU processes) that
    then repeat only every 30-60 s; wait for them so that what follows measures refreshes alone."""
    cold = await source.poll(node)
    await source.poll(node)
    streams = source.streams[node.name]
    await eventually(
        lambda: streams["basics"].shell.disk_reads == 1 and streams["gpu"].process_reads == 1,
        "first slow reads",
    )
    return cold


def docker_node(fleet: NetnsFleet, docker_lab: DockerLab, name: str) -> Node:
    return fleet.node_model(
        fleet.hosts[0],
        refresh=0.3,
        gpus=GpuExpectation(count=1),
        docker=DockerSettings(socket=docker_lab.socket),
    )


async def test_warm_refresh_starts_no_process_on_the_node(docker_lab: DockerLab, hub: NetnsFleet) -> None:
    node = docker_node(hub, docker_lab, "h0")
    source = StreamingSource(Inventory("netns", "netns.yaml", (node,)))
    try:
        cold = await warm_up(source, node)
        streams = source.streams[node.name]
        samples = streams["gpu"].stream.samples
        before = hub.spawned()
        warm = []
        for _ in range(5):
            await asyncio.sleep(0.3)
            warm.append(await source.poll(node))
        spawned = hub.spawned() - before
        control_before = hub.spawned()
        await source.transports[node.name].run("true")
        control = hub.spawned() - control_before
    finally:
        await source.close()
    assert cold.gpu is not None
    assert cold.gpu.status == "ok"
    assert cold.docker is not None
    assert cold.docker.container("web") is not None
    assert all(snapshot.gpu is not None and snapshot.gpu.status == "ok" for snapshot in warm)
    assert all(snapshot.docker is not None and snapshot.docker.error is None for snapshot in warm)
    assert streams.sections.get("gpu") is not None
    assert streams["gpu"].stream.samples > samples  # the data kept moving...
    assert streams["basics"].shell.reports == 7  # one /proc report per poll
    assert spawned == 0  # ...and the node started no process for five refreshes
    assert control == 1  # while one command is one process: the count is real


async def test_container_changes_arrive_by_events(docker_lab: DockerLab, hub: NetnsFleet) -> None:
    node = docker_node(hub, docker_lab, "h0")
    source = StreamingSource(Inventory("netns", "netns.yaml", (node,)), docker_safety_every=3600)
    name = f"stream-probe-{os.getpid()}"
    try:
        await warm_up(source, node)
        watcher = source.streams[node.name]["docker"].watcher
        assert watcher is not None
        assert watcher.latest is not None
        assert watcher.latest.container(name) is None
        relists, spawned = watcher.relists, hub.spawned()
        await asyncio.to_thread(docker_lab.run_container, name, "--init", IMAGE, "sleep", "600")

        def state() -> str | None:
            latest = watcher.latest
            container = latest.container(name) if latest is not None else None
            return container.state if container is not None else None

        await eventually(lambda: state() == "running", "the new container in the latest list")
        await asyncio.to_thread(docker_lab.remove, name)
        await eventually(lambda: state() is None, "the removed container gone from the latest list")
        polled = await source.poll(node)
        kept = watcher.latest  # read before any await: the crash-looping neighbour keeps re-listing
        relisted = watcher.relists - relists
        spawned = hub.spawned() - spawned
        streams = source.streams[node.name]
        gpu, shell = streams["gpu"], streams["basics"].shell
        who = f"gpu starts {gpu.stream.starts}, basics {shell.starts}/{shell.disk_reads}, "
        who += f"apps {gpu.process_reads}, failed docker lists {watcher.failed_relists}"
    finally:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(docker_lab.remove, name)
        await source.close()
    # A poll hands out the list the events kept current (already without the removed container); the
    # crash-looping neighbour may re-list again while the poll awaits its other parts, never older.
    assert polled.docker is not None
    assert kept is not None
    assert polled.docker.container(name) is None
    assert polled.docker.taken_at <= kept.taken_at
    assert 2 <= relisted <= 8  # start, removal (+ a crash-looping neighbour): never a list per poll
    assert spawned == 0, who  # re-lists are Docker API calls over the connection: no process on the node


async def test_more_work_than_max_sessions_is_queued_not_refused(hub: NetnsFleet) -> None:
    host = hub.hosts[1]
    # Control: this sshd runs with the default MaxSessions (10) and refuses an 11th session.
    conn = await asyncssh.connect(
        host.host,
        port=host.port,
        username=hub.lab.user,
        client_keys=[str(hub.lab.client_key_path)],
        known_hosts=str(hub.known_hosts_path),
        agent_path=None,
        config=[],
    )
    try:
        held = [await conn.create_process("sleep 30") for _ in range(10)]
        with pytest.raises(asyncssh.ChannelOpenError):
            await conn.create_process("true")
        for process in held:
            process.close()
    finally:
        conn.close()
    transport = SSHTransport(hub.node_model(host, ssh={"command_timeout": 20}))
    gpu = GpuStream(transport, interval=0.2)
    basics = BasicsStream(transport, disks=())
    try:
        await gpu.first(timeout=10)
        await basics.read()
        samples = gpu.samples
        commands, reports = await asyncio.gather(
            asyncio.gather(*(transport.run("sleep 0.2; echo done") for _ in range(40))),
            asyncio.gather(basics.read(), basics.read()),
        )
        await eventually(lambda: gpu.samples > samples, "the GPU stream still streams")
    finally:
        await gpu.close()
        await basics.close()
        await transport.close()
    assert [result.stdout for result in commands] == ["done\n"] * 40
    assert [report.error for report in reports] == [None, None]
    assert transport.budget.peak == 10
    assert transport.budget.queued_total >= 30
    assert gpu.starts == 1  # the stream kept its slot throughout


def test_fleet_leaves_no_namespace_or_process_behind(ssh_lab: SshLab) -> None:
    fleet = NetnsFleet(ssh_lab, 3)
    sshds = fleet.sshd_pids()
    namespaces = [name for name in os.listdir("/run/netns") if name.startswith(fleet.prefix)]
    fleet.close()
    assert len(sshds) == 3
    assert len(namespaces) == 4  # the hub and three hosts
    assert not [name for name in os.listdir("/run/netns") if name.startswith(fleet.prefix)]
    assert not [pid for pid in sshds if os.path.exists(f"/proc/{pid}")]


async def test_a_restart_loop_that_gives_up_without_an_event_is_seen_on_the_next_poll(
    docker_lab: DockerLab, hub: NetnsFleet, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # A crash loop whose next start fails (its bind mount's source is gone): dockerd moves the container from
    # `restarting` to `exited` and sends no event for it. The events alone would keep "restarting" until the
    # safety re-list (an hour here); a container in `restarting` is looked at again on each poll.
    node = docker_node(hub, docker_lab, "h0")
    source = StreamingSource(Inventory("netns", "netns.yaml", (node,)), docker_safety_every=3600)
    name = f"stale-probe-{os.getpid()}"
    data = tmp_path_factory.mktemp("stale-bind")
    try:
        await warm_up(source, node)
        watcher = source.streams[node.name]["docker"].watcher
        assert watcher is not None

        def state() -> str | None:
            latest = watcher.latest
            container = latest.container(name) if latest is not None else None
            return container.state if container is not None else None

        await asyncio.to_thread(
            docker_lab.run_container, name, "--restart", "always",
            "--mount", f"type=bind,source={data},target=/data", IMAGE, "sh", "-c", "sleep 1; exit 1",
        )  # fmt: skip
        await eventually(lambda: state() == "running", "the new container running")
        data.rmdir()  # its next start fails: "bind source path does not exist"
        await eventually(
            lambda: docker_lab.main.inspect(name)["State"]["Status"] == "exited", "dockerd gives up"
        )
        polled = await source.poll(node)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(docker_lab.remove, name)
        await source.close()
    assert polled.docker is not None
    container = polled.docker.container(name)
    assert container is not None
    assert container.state == "exited"


async def test_refresh_now_relists_the_containers(docker_lab: DockerLab, hub: NetnsFleet) -> None:
    # `r` in the TUI is a forced poll: it lists the node's containers again, event or not.
    node = docker_node(hub, docker_lab, "h0")
    source = StreamingSource(Inventory("netns", "netns.yaml", (node,)), docker_safety_every=3600)
    try:
        await warm_up(source, node)
        watcher = source.streams[node.name]["docker"].watcher
        assert watcher is not None
        before = watcher.relists
        polled = await source.poll(node, force=True)
        relisted = watcher.relists - before
        latest = watcher.latest
    finally:
        await source.close()
    assert relisted >= 1
    assert polled.docker is latest
