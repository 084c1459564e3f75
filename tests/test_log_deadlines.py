"""A log view against the REAL lab dockerd frozen with SIGSTOP (its socket accepts, nothing answers): the
view says so within the node's command timeout and keeps retrying; it follows once the daemon wakes."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from console.actions import ActionError
from console.actions.docker import tail_logs
from console.actions.logs import LogLine, LogQuery, LogStatus, stream_logs
from console.collectors.docker import close_docker_clients
from console.inventory.model import DockerSettings
from console.transport import SSHTransport
from tests.lab.docker_fixtures import IMAGE, DockerLab
from tests.lab.models import lab_node_model
from tests.lab.sshd import LabNode, SshLab

DEADLINE = 2


async def drain(lines: AsyncIterator[str]) -> None:
    async for _ in lines:
        pass


async def test_a_frozen_dockerd_is_reported_and_retried_not_connecting_forever(
    docker_lab: DockerLab, ssh_lab: SshLab, plain_node: LabNode
) -> None:
    name = f"frozen-{uuid.uuid4().hex[:8]}"
    docker_lab.run_container(name, "--init", IMAGE, "sh", "-c", "echo awake; sleep 3600")
    node = lab_node_model(
        ssh_lab,
        plain_node,
        ssh={"command_timeout": DEADLINE},
        docker=DockerSettings(socket=docker_lab.socket),
    )
    transport = SSHTransport(node)
    stream = stream_logs(transport, node, name, LogQuery(tail=None), poll_s=0.2)
    daemon = docker_lab.main.pid
    os.kill(daemon, signal.SIGSTOP)
    try:
        assert (await anext(stream)).state == "connecting"
        started = time.monotonic()
        status = await asyncio.wait_for(anext(stream), DEADLINE + 5)
        elapsed = time.monotonic() - started
        assert status == LogStatus("reconnecting", f"Docker did not answer within {DEADLINE}s: retrying")
        assert elapsed < DEADLINE + 3
        # Still frozen: the next try says so again (backoff between), it never sits silent.
        again = await asyncio.wait_for(anext(stream), DEADLINE + 5)
        assert again == status
        # A one-shot read (the CLI's tail) fails with the reason instead of hanging.
        with pytest.raises(ActionError, match=f"Docker did not answer within {DEADLINE}s"):
            await asyncio.wait_for(drain(tail_logs(transport, node, name, lines=5)), DEADLINE + 5)
    finally:
        os.kill(daemon, signal.SIGCONT)
    try:
        async with asyncio.timeout(30):
            async for event in stream:
                if isinstance(event, LogLine):
                    assert event.text == "awake"
                    break
    finally:
        await stream.aclose()
        await close_docker_clients(transport)
        await transport.close()
        await asyncio.to_thread(docker_lab.remove, name)
