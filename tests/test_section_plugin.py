"""A plug-in section with an inventory key, a stream and a command, added by registering one object and
nothing else: the loader reads its key from YAML (type, checks, line numbers), StreamingSource opens its
stream, the checks runner judges it and the read-only wrapper allows exactly its commands."""

from __future__ import annotations

import asyncio
import dataclasses
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.checks.model import CheckResult, Status
from console.checks.runner import run_checks
from console.inventory import InventoryError, load_inventory
from console.inventory import settings as inventory_settings
from console.inventory.model import Node
from console.inventory.rules import CHECKS
from console.inventory.settings import SectionSettings
from console.model.node import NodeSnapshot
from console.model.stack import Finding, StackSnapshot
from console.sections import SECTIONS, Poll, Section, Stream, StreamContext, register
from console.streams.source import StreamingSource
from console.transport.base import LineStream, StreamingTransport, Transport
from console.transport.readonly import Argv, ReadOnlyTransport, Text, Word, is_read_only
from tests.lab.models import lab_node_model
from tests.lab.sshd import LabNode, SshLab


@dataclass(frozen=True, slots=True)
class ProbeSettings:
    word: str
    every_ms: int = 200


def _every(value: int) -> str | None:
    return None if 50 <= value <= 10_000 else "must be between 50 and 10000"


PROBE_SETTINGS = SectionSettings("probe", ProbeSettings | None, {(ProbeSettings, "every_ms"): _every})
WORD = Word("[a-z]+")


def stream_command(word: str) -> str:
    return f"echo {shlex.quote(word)}; exec sleep 30"


def settings(node: Node) -> ProbeSettings:
    value = node.settings("probe")
    assert isinstance(value, ProbeSettings)
    return value


def said(node: Node, line: str | None) -> StackSnapshot:
    return StackSnapshot(node.name, datetime.now(UTC), Finding("probe", False, line or ""))


class ProbeStream:
    """Opens `echo WORD; exec sleep 30` once and keeps the first line it printed."""

    def __init__(self, transport: StreamingTransport, node: Node) -> None:
        self.transport, self.node = transport, node
        self.lines: LineStream | None = None
        self.value: StackSnapshot | None = None
        self.opened = 0

    def latest(self, poll: Poll) -> StackSnapshot | None:
        return self.value

    async def read(self, poll: Poll) -> StackSnapshot:
        if self.lines is None:
            self.lines = await self.transport.open_stream(stream_command(settings(self.node).word))
            self.opened += 1
        self.value = said(self.node, await asyncio.wait_for(self.lines.readline(), poll.wait))
        return self.value

    def kick(self) -> None:
        pass

    async def close(self) -> None:
        if self.lines is not None:
            await self.lines.close()


def _open(ctx: StreamContext) -> ProbeStream | None:
    if not ctx.streaming:  # a local node (or a wrapper around one): the fallback, per poll
        return None
    assert isinstance(ctx.transport, StreamingTransport)
    return ProbeStream(ctx.transport, ctx.node)


async def _once(transport: Transport, node: Node) -> StackSnapshot:
    result = await transport.run(shlex.join(["echo", settings(node).word]), timeout=5)
    return said(node, result.stdout.strip())


def _evaluate(node: Node, snapshot: NodeSnapshot) -> tuple[CheckResult, ...]:
    line = snapshot.stack.comfy_mnt.summary if snapshot.stack and snapshot.stack.comfy_mnt else None
    status = Status.OK if line == settings(node).word else Status.CRITICAL
    return (CheckResult(node.name, "probe.word", status, f"said {line!r}", target="probe"),)


PROBE = Section(
    "stack",  # a NodeSnapshot field (a real plug-in adds its own field to console/model/node.py)
    lambda node: node.settings("probe") is not None,
    lambda node: (("probe.word", "probe"),) if node.settings("probe") is not None else (),
    _evaluate,
    read_only_commands=(Text("echo ", WORD, "; exec sleep 30"), Argv("echo", WORD)),
    stream=Stream(_open, _once),
    timed_out=lambda node, message: StackSnapshot(node.name, datetime.now(UTC), error=message),
    settings=(PROBE_SETTINGS,),
)


@pytest.fixture
def probe_section() -> Iterator[Section]:
    """The probe registered; the registries as they were come back afterwards."""
    sections, keys, checks = dict(SECTIONS), dict(inventory_settings.SETTINGS), dict(CHECKS)
    register(PROBE)
    try:
        yield PROBE
    finally:
        SECTIONS.clear()
        SECTIONS.update(sections)
        inventory_settings.SETTINGS.clear()
        inventory_settings.SETTINGS.update(keys)
        CHECKS.clear()
        CHECKS.update(checks)


def write(path: Path, nodes: str) -> Path:
    path.write_text(f"version: 1\ndefaults:\n  probe: {{word: hello}}\nnodes:\n{nodes}", encoding="utf-8")
    return path


def test_without_the_section_its_key_is_unknown(tmp_path: Path) -> None:
    with pytest.raises(InventoryError) as caught:
        load_inventory(write(tmp_path / "lab.yaml", "  a: {host: a}\n"))
    assert [str(problem) for problem in caught.value.errors] == [
        f"{tmp_path / 'lab.yaml'}:3: defaults.probe: unknown key"
    ]


def test_the_loader_reads_a_registered_sections_key(probe_section: Section, tmp_path: Path) -> None:
    nodes = "  a: {host: a}\n  b: {host: b, probe: {every_ms: 100}}\n  c: {host: c, probe: null}\n"
    inventory = load_inventory(write(tmp_path / "lab.yaml", nodes))
    assert [node.settings("probe") for node in inventory.nodes] == [
        ProbeSettings("hello"),  # from defaults
        ProbeSettings("hello", 100),  # merged key by key, as a built-in section's mapping
        None,
    ]
    assert inventory.nodes[0].plugins == (("probe", ProbeSettings("hello")),)
    assert inventory.nodes[0].settings("gpus") is None  # a built-in's key reads its field


def test_a_registered_sections_values_are_checked_with_their_lines(
    probe_section: Section, tmp_path: Path
) -> None:
    nodes = "  a: {host: a, probe: {every_ms: 5}}\n  b:\n    host: b\n    probe: {word: 3.5, colour: red}\n"
    with pytest.raises(InventoryError) as caught:
        load_inventory(write(tmp_path / "lab.yaml", nodes))
    where = tmp_path / "lab.yaml"
    assert [str(problem) for problem in caught.value.errors] == [
        f"{where}:5: nodes.a.probe.every_ms: must be between 50 and 10000",
        f"{where}:8: nodes.b.probe.colour: unknown key",
    ]


def test_the_wrapper_allows_exactly_the_declared_commands(probe_section: Section) -> None:
    assert is_read_only(stream_command("hello"))
    assert is_read_only("echo hello")
    assert not is_read_only(stream_command("hello") + "; touch /tmp/x")
    assert not is_read_only(stream_command("hello; touch /tmp/x"))


async def test_the_source_streams_it_and_the_runner_judges_it(
    probe_section: Section, ssh_lab: SshLab, plain_node: LabNode, tmp_path: Path
) -> None:
    lab = lab_node_model(ssh_lab, plain_node)
    ssh = lab.ssh
    node_yaml = (
        f"  {lab.name}:\n    host: {lab.host}\n    ssh: {{user: {ssh.user}, port: {ssh.port}, "
        f'identity_file: "{ssh.identity_file}", known_hosts: "{ssh.known_hosts}", command_timeout: 5}}\n'
    )
    inventory = load_inventory(write(tmp_path / "lab.yaml", node_yaml))
    node = inventory.nodes[0]
    # --check's source: one shot, every command through the read-only wrapper, the stream included.
    source = StreamingSource(inventory, one_shot=True, read_only=True)
    try:
        assert isinstance(source.transports[node.name], ReadOnlyTransport)
        report = await run_checks(inventory, source, timeout=20, fleet_checks=False)
        probe = source.streams[node.name]["stack"]
        assert isinstance(probe, ProbeStream)
        assert probe.opened == 1
        again = await source.poll(node)  # the latest value, in place: the stream is not opened again
        assert probe.opened == 1
    finally:
        await source.close()
    results = [(r.check, r.status, r.summary) for r in report.results if r.check == "probe.word"]
    assert results == [("probe.word", Status.OK, "said 'hello'")]
    assert again.stack is not None
    assert again.stack.comfy_mnt == Finding("probe", False, "hello")


async def test_a_node_without_streams_gets_the_fallback(probe_section: Section, tmp_path: Path) -> None:
    inventory = load_inventory(write(tmp_path / "lab.yaml", "  here: {transport: local}\n"))
    node = dataclasses.replace(inventory.nodes[0], gpus=None)
    source = StreamingSource(inventory, one_shot=True, read_only=True)
    try:
        snapshot = await source.poll(node)
        assert source.streams[node.name].sections["stack"] is None  # no stream: the fallback ran
    finally:
        await source.close()
    assert snapshot.stack is not None
    assert snapshot.stack.comfy_mnt == Finding("probe", False, "hello")


class SilentStream:
    """A stream that never answers: its section's placeholder stands in; the node's other sections stand."""

    def latest(self, poll: Poll) -> None:
        return None

    async def read(self, poll: Poll) -> StackSnapshot:
        await asyncio.Event().wait()
        raise AssertionError("never")

    def kick(self) -> None:
        pass

    async def close(self) -> None:
        pass


async def test_a_stream_that_misses_the_deadline_reads_as_its_timed_out_placeholder(tmp_path: Path) -> None:
    silent = dataclasses.replace(PROBE, stream=Stream(lambda ctx: SilentStream(), _once))
    sections, keys, checks = dict(SECTIONS), dict(inventory_settings.SETTINGS), dict(CHECKS)
    register(silent)
    try:
        inventory = load_inventory(write(tmp_path / "lab.yaml", "  here: {transport: local}\n"))
        node = inventory.nodes[0]
        source = StreamingSource(inventory, one_shot=True, poll_within=0.5)
        try:
            snapshot = await source.poll(node)
        finally:
            await source.close()
    finally:
        SECTIONS.clear()
        SECTIONS.update(sections)
        inventory_settings.SETTINGS.clear()
        inventory_settings.SETTINGS.update(keys)
        CHECKS.clear()
        CHECKS.update(checks)
    assert snapshot.reachable
    assert snapshot.stack is not None
    assert snapshot.stack.error == "timed out after 0.5s"
    assert snapshot.basics is not None  # the others answered
    assert snapshot.basics.error is None
