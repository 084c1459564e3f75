"""The audit file against hostile text from the REAL lab dockerd: a restart that fails quotes the tenant's
Cmd (C1 CSI, a bidi override) in dockerd's error; `cat audit.jsonl` must never show those characters raw,
and json.loads must still give back exactly what was recorded."""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path

import pytest

from console.actions import AuditLog
from console.actions.docker import restart_container
from console.collectors.docker import close_docker_clients
from console.inventory.model import DockerSettings
from console.transport import SSHTransport
from tests.lab.docker_fixtures import IMAGE, DockerLab
from tests.lab.models import lab_node_model
from tests.lab.sshd import LabNode, SshLab

CMD = "/x\x9b2J\u202eevil\x1b]0;t\x07"


async def test_a_failed_restart_quoting_a_hostile_cmd_is_audited_inert(
    docker_lab: DockerLab, ssh_lab: SshLab, plain_node: LabNode, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="opsconsole.audit")
    name = f"audit-{uuid.uuid4().hex[:8]}"
    docker_lab.main.cli("create", "--name", name, IMAGE, CMD)  # starting it fails: no such executable
    node = lab_node_model(ssh_lab, plain_node, docker=DockerSettings(socket=docker_lab.socket))
    transport = SSHTransport(node)
    audit = AuditLog()
    try:
        result = await restart_container(transport, node, name, audit=audit, confirmed=True)
    finally:
        await close_docker_clients(transport)
        await transport.close()
        await asyncio.to_thread(docker_lab.remove, name)
    assert not result.ok
    raw = audit.path.read_bytes()
    assert raw.isascii(), raw  # nothing a terminal could act on, in any field
    assert all(ord(c) >= 0x20 or c == "\n" for c in raw.decode()), raw
    intent, done = audit.lines()
    assert intent["target"] == done["target"] == name
    assert done["detail"] == result.detail
    for char in ("\x9b", "\u202e", "\x1b", "\x07"):
        assert char not in result.detail  # also shown by the TUI and the CLI
    assert "stat /x\\x9b2J\\u202eevil\\x1b]0;t\\x07: no such file" in result.detail  # visible, not lost
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2, messages
    assert all(char not in text for text in messages for char in ("\x9b", "\u202e", "\x1b", "\x07"))


def test_audit_lines_are_ascii_and_give_back_exactly_what_was_recorded() -> None:
    audit = AuditLog()
    detail = "caf\u00e9 \x9b2J \u202eevil \u2028next \x1b[2J"
    audit.record(
        node="n\u00f6de", action="docker.restart", target="web", call="POST /x", ok=False, detail=detail
    )
    raw = audit.path.read_bytes()
    assert raw.isascii()
    assert raw.count(b"\n") == 1
    (entry,) = audit.lines()
    assert (entry["node"], entry["detail"]) == ("n\u00f6de", detail)


def test_a_torn_line_does_not_hide_the_rest_of_the_audit(tmp_path: Path) -> None:
    """A console killed mid-write leaves half a line: the reader keeps every whole entry around it."""
    audit = AuditLog(tmp_path / "audit.jsonl")
    first = audit.intent(node="gpu1", action="docker.restart", target="comfy", call="POST /restart")
    with (tmp_path / "audit.jsonl").open("a", encoding="utf-8") as log:
        log.write('{"id": "torn", "phase": "inte\n' + "[" * 100_000 + "\n")
    audit.record(node="gpu1", action="docker.restart", target="comfy", call="POST /restart", ok=True,
                 detail="restarted", audit_id=first)  # fmt: skip
    assert [(entry["id"], entry["phase"]) for entry in audit.lines()] == [
        (first, "intent"),
        (first, "result"),
    ]
