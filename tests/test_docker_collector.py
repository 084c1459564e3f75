"""The Docker collector and actions against REAL dockerds, reached through a real sshd's forwarded socket.

Path under test: SSHTransport (lab sshd on 127.0.0.1, user opsconsole-lab) -> forward_unix_socket -> the
lab's dockerd socket -> aiodocker. Ground truth comes from the same daemons over their unix sockets directly.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from console.actions import ActionError, AuditLog, NotConfirmed, default_audit_path
from console.actions.docker import restart_container, tail_logs
from console.checks.docker_rules import evaluate_docker
from console.checks.model import Status
from console.collectors.docker import (
    DockerUnavailable,
    close_docker_clients,
    collect_docker,
    docker_client,
    needs_relist,
    watch_events,
)
from console.collectors.docker_model import DockerSnapshot, PublishedPort
from console.inventory.model import DockerSettings, GpuExpectation, Node
from console.transport import LocalTransport, SSHTransport
from tests.lab.docker_fixtures import CONTAINERS, IMAGE, TCP_API, DockerLab
from tests.lab.models import lab_node_model
from tests.lab.sshd import LabNode, SshLab

ALL = tuple(CONTAINERS)


def docker_node(
    lab: SshLab, node: LabNode, socket: str, containers: tuple[str, ...] = (), **fields: Any
) -> Node:
    return lab_node_model(lab, node, docker=DockerSettings(socket=socket, containers=containers), **fields)


@pytest.fixture
async def ssh(ssh_lab: SshLab, plain_node: LabNode) -> AsyncIterator[Callable[[Node], SSHTransport]]:
    """Make SSHTransports to the plain lab node; each is closed (clients first) when the test ends."""
    made: list[SSHTransport] = []

    def make(node: Node) -> SSHTransport:
        made.append(SSHTransport(node))
        return made[-1]

    yield make
    for transport in made:
        await close_docker_clients(transport)
        await transport.close()


async def poll_until(
    transport: SSHTransport, node: Node, done: Callable[[DockerSnapshot], bool], timeout: float = 15.0
) -> DockerSnapshot:
    """Poll like the console does until done(snapshot): container states move on their own schedule."""
    deadline = time.monotonic() + timeout
    while True:
        snapshot = await collect_docker(transport, node)
        if done(snapshot) or time.monotonic() > deadline:
            return snapshot
        await asyncio.sleep(0.1)


def docker_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_containers_over_the_forwarded_socket(
    docker_lab: DockerLab, ssh_lab: SshLab, plain_node: LabNode, ssh: Callable[[Node], SSHTransport]
) -> None:
    node = docker_node(ssh_lab, plain_node, docker_lab.socket, ALL, gpus=GpuExpectation(count=1))
    transport = ssh(node)

    def crash_in_backoff(snapshot: DockerSnapshot) -> bool:
        crash = snapshot.container("crash")
        return crash is not None and crash.state == "restarting"

    snapshot = await poll_until(transport, node, crash_in_backoff)
    assert snapshot.error is None
    assert snapshot.node == plain_node.name
    assert {container.name for container in snapshot.containers} >= set(ALL)

    web = snapshot.container("web")
    assert web is not None
    truth = docker_lab.main.inspect("web")
    assert (web.id, web.image, web.state, web.health) == (truth["Id"], IMAGE, "running", "healthy")
    assert web.ports == (PublishedPort("127.0.0.1", 18080, 8080, "tcp"),)
    assert (web.compose_project, web.compose_service) == ("lab", "web")
    assert web.restart_count == 0
    assert web.started_at == docker_time(truth["State"]["StartedAt"])
    assert web.status.startswith("Up")
    assert "(healthy)" in web.status

    public = snapshot.container("public")
    assert public is not None
    assert public.health is None
    assert public.compose_project is None
    assert PublishedPort("0.0.0.0", 18081, 8080, "tcp") in public.ports

    done = snapshot.container("done")
    assert done is not None
    assert done.state == "exited"
    assert done.status.startswith("Exited (3)")
    assert done.ports == ()
    assert done.restart_count == 0

    crash = snapshot.container("crash")
    assert crash is not None
    assert crash.state == "restarting"
    assert crash.restart_count is not None
    assert crash.restart_count >= 1

    health = {container.name: container.health for container in snapshot.containers}
    assert (health["sick"], health["warming"]) == ("unhealthy", "starting")

    engine = snapshot.engine
    assert engine is not None
    version = docker_lab.main.api("GET", "/version")
    assert (engine.version, engine.api_version) == (version["Version"], version["ApiVersion"])
    assert "runc" in engine.runtimes
    assert engine.default_runtime == "runc"
    assert engine.nvidia_runtime is False
    assert engine.snap is False
    assert engine.tcp_listeners == ()  # read from dockerd's command line and config on the node
    assert engine.root_dir == str(docker_lab.main.data_root)

    # The rules on this real snapshot, for a node that expects one GPU.
    results = {(result.check, result.target): result for result in evaluate_docker(node, snapshot)}
    status = {key: result.status for key, result in results.items()}
    assert status[("docker.engine", None)] is Status.OK
    assert status[("docker.nvidia_runtime", None)] is Status.CRITICAL
    assert status[("docker.tcp_api", None)] is Status.OK
    assert status[("container.running", "web")] is Status.OK
    assert status[("container.running", "done")] is Status.CRITICAL
    assert status[("container.running", "crash")] is Status.CRITICAL
    assert status[("container.restarts", "crash")] is Status.CRITICAL
    assert results[("container.restarts", "crash")].summary.startswith("restart loop")
    assert status[("container.restarts", "web")] is Status.OK
    assert status[("container.health", "web")] is Status.OK
    assert status[("container.health", "sick")] is Status.CRITICAL
    assert status[("container.health", "warming")] is Status.WARNING
    assert ("container.health", "public") not in status  # no healthcheck, no result


async def test_tcp_api_and_nvidia_runtime_from_the_daemon_config(
    docker_lab: DockerLab, ssh_lab: SshLab, plain_node: LabNode, ssh: Callable[[Node], SSHTransport]
) -> None:
    node = docker_node(ssh_lab, plain_node, docker_lab.tcp_socket, gpus=GpuExpectation(count=1))
    snapshot = await collect_docker(ssh(node), node)
    assert snapshot.error is None
    assert snapshot.engine is not None
    assert snapshot.engine.tcp_listeners == (TCP_API,)
    assert snapshot.engine.nvidia_runtime is True
    assert "nvidia" in snapshot.engine.runtimes
    results = {result.check: result for result in evaluate_docker(node, snapshot)}
    assert results["docker.tcp_api"].status is Status.CRITICAL
    assert TCP_API in results["docker.tcp_api"].summary
    assert results["docker.nvidia_runtime"].status is Status.OK


async def test_tcp_api_is_unknown_when_the_daemon_config_is_unreadable(
    docker_lab: DockerLab, ssh_lab: SshLab, plain_node: LabNode, ssh: Callable[[Node], SSHTransport]
) -> None:
    # daemon.json 0600 (root only): it could name a tcp:// host the SSH user cannot see, so no verdict.
    node = docker_node(ssh_lab, plain_node, docker_lab.socket)
    config = docker_lab.main.config_file
    config.chmod(0o600)
    try:
        snapshot = await collect_docker(ssh(node), node)
    finally:
        config.chmod(0o644)
    assert snapshot.engine is not None
    assert snapshot.engine.tcp_listeners is None
    (tcp,) = [result for result in evaluate_docker(node, snapshot) if result.check == "docker.tcp_api"]
    assert tcp.status is Status.UNKNOWN


async def test_socket_the_ssh_user_may_not_open_is_permission_denied(
    docker_lab: DockerLab, ssh_lab: SshLab, plain_node: LabNode, ssh: Callable[[Node], SSHTransport]
) -> None:
    node = docker_node(ssh_lab, plain_node, docker_lab.denied_socket)
    snapshot = await collect_docker(ssh(node), node)
    assert snapshot.engine is None
    assert snapshot.containers == ()
    assert (
        snapshot.error
        == f"permission denied on {docker_lab.denied_socket}: is opsconsole-lab in the root group?"
    )
    (engine, *rest) = evaluate_docker(node, snapshot)
    assert (engine.check, engine.status) == ("docker.engine", Status.CRITICAL)
    assert engine.fix is not None
    assert "docker group" in engine.fix
    assert {result.status for result in rest} == {Status.SKIPPED}  # docker.engine is the critical


async def test_missing_socket_and_unreachable_node_are_errors_not_exceptions(
    docker_lab: DockerLab, ssh_lab: SshLab, plain_node: LabNode, ssh: Callable[[Node], SSHTransport]
) -> None:
    missing = docker_node(ssh_lab, plain_node, f"{docker_lab.public_dir}/nothing-here.sock")
    snapshot = await collect_docker(ssh(missing), missing)
    assert (
        snapshot.error
        == f"no Docker socket at {docker_lab.public_dir}/nothing-here.sock (is dockerd running?)"
    )

    down = replace(missing, ssh=replace(missing.ssh, port=ssh_lab.dead_port()))
    snapshot = await collect_docker(ssh(down), down)
    assert snapshot.engine is None
    assert snapshot.error is not None
    assert "connection refused" in snapshot.error


async def test_one_client_serves_every_poll_and_a_local_node_needs_no_forward(
    docker_lab: DockerLab, ssh_lab: SshLab, plain_node: LabNode, ssh: Callable[[Node], SSHTransport]
) -> None:
    node = docker_node(ssh_lab, plain_node, docker_lab.socket)
    transport = ssh(node)
    first = await collect_docker(transport, node)
    client = await docker_client(transport, node)
    second = await collect_docker(transport, node)
    assert await docker_client(transport, node) is client
    assert first.error is None
    assert second.error is None
    assert {c.name for c in first.containers} == {c.name for c in second.containers}

    local_node = Node("here", "localhost", transport="local", docker=DockerSettings(socket=docker_lab.socket))
    local = LocalTransport("here")
    try:
        snapshot = await collect_docker(local, local_node)
    finally:
        await close_docker_clients(local)
    assert snapshot.error is None
    assert snapshot.container("web") is not None


async def test_events_stream_says_when_to_relist(
    docker_lab: DockerLab, ssh_lab: SshLab, plain_node: LabNode, ssh: Callable[[Node], SSHTransport]
) -> None:
    node = docker_node(ssh_lab, plain_node, docker_lab.socket)
    transport = ssh(node)
    name = f"evt-{uuid.uuid4().hex[:8]}"
    since = datetime.now(UTC) - timedelta(seconds=1)  # the daemon replays from here: no race with the start
    await asyncio.to_thread(docker_lab.run_container, name, "--init", IMAGE, "sleep", "60")
    events = watch_events(transport, node, since=since)
    removal: asyncio.Future[None] | None = None
    try:
        async with asyncio.timeout(10):
            seen: list[dict[str, Any]] = []
            async for event in events:
                if event.get("Actor", {}).get("Attributes", {}).get("name") != name:
                    continue
                seen.append(event)
                if event["Action"] == "start":  # that one was replayed; what follows comes live
                    removal = asyncio.ensure_future(asyncio.to_thread(docker_lab.remove, name))
                if event["Action"] == "destroy":
                    break
        relist = [event["Action"] for event in seen if needs_relist(event)]
        assert relist == ["create", "start", "die", "destroy"]  # `kill` comes before die: no re-list for it
    finally:
        await events.aclose()
        if removal is not None:
            await removal
        else:
            await asyncio.to_thread(docker_lab.remove, name)
    assert not needs_relist({"Type": "container", "Action": "exec_start: wget -q -O /dev/null"})
    assert needs_relist({"Type": "container", "Action": "health_status: unhealthy"})

    bad = docker_node(ssh_lab, plain_node, docker_lab.denied_socket)
    with pytest.raises(DockerUnavailable, match="permission denied"):
        await anext(watch_events(ssh(bad), bad))


async def test_tail_logs_returns_the_httpd_output(
    docker_lab: DockerLab, ssh_lab: SshLab, plain_node: LabNode, ssh: Callable[[Node], SSHTransport]
) -> None:
    node = docker_node(ssh_lab, plain_node, docker_lab.socket)
    transport = ssh(node)
    audit = AuditLog()
    lines = [line async for line in tail_logs(transport, node, "web", lines=100_000, audit=audit)]
    assert lines[0] == "web starting"  # the container's first output
    assert any(line.endswith("response:200") for line in lines[1:])  # httpd -vv logging the healthcheck
    assert len([line async for line in tail_logs(transport, node, "web", lines=3)]) == 3

    with pytest.raises(ActionError, match="no container 'ghost'"):
        await anext(tail_logs(transport, node, "ghost", audit=audit))
    assert audit.entries() == []  # reading logs is not a mutation: never audited

    follow = tail_logs(transport, node, "web", lines=0, follow=True)
    try:
        async with asyncio.timeout(10):  # the healthcheck fetches a page every second
            line = await anext(follow)
    finally:
        await follow.aclose()
    assert "url:/" in line or "response:" in line


async def test_restart_needs_confirmation_restarts_and_audits(
    docker_lab: DockerLab, ssh_lab: SshLab, plain_node: LabNode, ssh: Callable[[Node], SSHTransport]
) -> None:
    name = f"victim-{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(docker_lab.run_container, name, "--init", IMAGE, "sleep", "3600")
    node = docker_node(ssh_lab, plain_node, docker_lab.socket)
    transport = ssh(node)
    audit = AuditLog()
    try:
        before = docker_lab.main.inspect(name)["State"]["StartedAt"]
        with pytest.raises(NotConfirmed):
            await restart_container(transport, node, name, audit=audit)
        assert docker_lab.main.inspect(name)["State"]["StartedAt"] == before
        assert audit.entries() == []

        result = await restart_container(transport, node, name, audit=audit, confirmed=True, stop_timeout=5)
        after = docker_lab.main.inspect(name)["State"]
        assert result.ok, result.detail
        assert after["Status"] == "running"
        assert docker_time(after["StartedAt"]) > docker_time(before)
        (entry,) = audit.entries()
        assert audit.path == default_audit_path()
        assert str(audit.path).endswith("opsconsole/audit.jsonl")
        assert (entry["node"], entry["action"], entry["target"], entry["ok"]) == (
            plain_node.name,
            "docker.restart",
            name,
            True,
        )
        assert entry["call"] == f"POST /containers/{name}/restart?t=5"
        assert entry["time"].endswith("+00:00")

        missing = await restart_container(transport, node, "no-such-container", audit=audit, confirmed=True)
        assert not missing.ok
        assert missing.detail == "no container 'no-such-container'"
        assert [entry["ok"] for entry in audit.entries()] == [True, False]
    finally:
        await asyncio.to_thread(docker_lab.remove, name)
