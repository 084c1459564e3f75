"""A section is a plug-in: one registered object is collected by the snapshot source, judged by the checks
runner and its commands are allowed by the read-only wrapper, with no other module naming it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from console.checks.model import CheckResult, Status
from console.checks.rules import planned_checks
from console.checks.runner import run_checks
from console.inventory.model import Inventory, Node, ServiceSpec
from console.model.node import NodeSnapshot
from console.model.stack import Finding, StackSnapshot
from console.poll import on_demand_collectors
from console.sections import SECTIONS, Section, register, registered, timed_out
from console.streams.gpu_section import APPS_COMMAND
from console.streams.gpu_stream import gpu_stream_command
from console.streams.pmon import pmon_command
from console.streams.source import StreamingSource
from console.transport.base import Transport
from console.transport.local import LocalTransport
from console.transport.readonly import ReadOnlyTransport, ReadOnlyViolation, is_read_only

ECHO = "echo opsconsole-fake-section"
FAKE = Node("fake", "127.0.0.1", transport="local")
PLAIN = Node("plain", "127.0.0.1", transport="local")


async def _collect(transport: Transport, node: Node) -> StackSnapshot:
    result = await transport.run(ECHO, timeout=10)
    return StackSnapshot(node.name, datetime.now(UTC), Finding("fake", False, result.stdout.strip()))


def _planned(node: Node) -> tuple[tuple[str, str | None], ...]:
    return (("fake.echo", "echo"),) if node.name == "fake" else ()


def _evaluate(node: Node, snapshot: NodeSnapshot) -> tuple[CheckResult, ...]:
    said = snapshot.stack.comfy_mnt.summary if snapshot.stack and snapshot.stack.comfy_mnt else None
    status = Status.OK if said == "opsconsole-fake-section" else Status.CRITICAL
    return (CheckResult(node.name, "fake.echo", status, f"said {said!r}", target="echo"),)


@pytest.fixture
def fake_section() -> Iterator[Section]:
    """The stack's field, filled by a pure section: the registry as it was comes back afterwards."""
    saved = dict(SECTIONS)
    section = Section("stack", lambda node: node.name == "fake", _planned, _evaluate, _collect, (ECHO,))
    register(section)
    try:
        yield section
    finally:
        SECTIONS.clear()
        SECTIONS.update(saved)


def test_the_built_in_sections_are_registered_in_check_result_order() -> None:
    names = [section.name for section in registered()]
    built_in = ["gpu", "services", "mounts", "docker", "facts", "basics"]
    assert [name for name in names if name in built_in] == built_in  # others may come between, in their place
    assert "basics" in SECTIONS


def test_a_timed_out_section_says_so_in_its_own_snapshot() -> None:
    node = Node("n", "127.0.0.1", transport="local")
    gpu, basics = timed_out("gpu", node, 2.5), timed_out("basics", node, 2.5)
    assert (gpu.status, gpu.error) == ("error", "no GPU data: timed out after 2.5s")
    assert basics.error == "timed out after 2.5s"
    assert timed_out("nosuch", node, 2.5) is None  # no placeholder declared: not read


def test_only_a_snapshot_field_can_be_a_section() -> None:
    with pytest.raises(ValueError, match="'nosuch' is not a NodeSnapshot section"):
        register(Section("nosuch", lambda node: True, lambda node: (), lambda node, snapshot: ()))
    assert "nosuch" not in SECTIONS


async def test_the_source_collects_and_the_runner_judges_a_registered_section(fake_section: Section) -> None:
    assert planned_checks(FAKE)[-1] == ("fake.echo", "echo")
    assert "fake.echo" not in {check for check, _ in planned_checks(PLAIN)}
    inventory = Inventory("lab", "lab.yaml", (FAKE, PLAIN))
    # --check's source: one shot, every command through the read-only wrapper.
    source = StreamingSource(inventory, one_shot=True, read_only=True)
    try:
        assert all(isinstance(t, ReadOnlyTransport) for t in source.transports.values())
        report = await run_checks(inventory, source, timeout=30, fleet_checks=False)
    finally:
        await source.close()
    fake = [result for result in report.results if result.check == "fake.echo"]
    assert [(r.node, r.status, r.summary) for r in fake] == [
        ("fake", Status.OK, "said 'opsconsole-fake-section'")
    ]
    assert [r.check for r in report.results if r.node == "fake"][-1] == "fake.echo"  # after the built-ins


def test_the_read_only_wrapper_allows_what_a_section_declares(fake_section: Section) -> None:
    assert is_read_only(ECHO)
    assert not is_read_only(ECHO + "; touch /tmp/x")
    assert not is_read_only("echo opsconsole-undeclared")


def test_the_gpu_sections_streams_are_declared_reads() -> None:
    # Declared by the GPU section, not registered by the streams themselves: the allow-list fills one way.
    gpu = SECTIONS["gpu"]
    for command in (gpu_stream_command(500), gpu_stream_command(10_000), pmon_command(1, (0,)), APPS_COMMAND):
        assert any(rule == command or getattr(rule, "matches", lambda _: False)(command) for rule in
                   gpu.read_only_commands), command  # fmt: skip
    assert not is_read_only(pmon_command(1, (0,)) + "; touch /tmp/x")
    assert not is_read_only(gpu_stream_command(500).replace("-lms", "-f /tmp/x -lms"))


async def test_an_undeclared_command_is_refused_before_it_reaches_the_node() -> None:
    handle = ReadOnlyTransport(LocalTransport("fake"))
    try:
        with pytest.raises(ReadOnlyViolation):
            await handle.run("echo opsconsole-undeclared", timeout=5)
    finally:
        await handle.close()


def test_a_poll_runs_the_collectors_of_the_wanted_sections_only(fake_section: Section) -> None:
    transport = LocalTransport("fake")
    served = Node("web", "127.0.0.1", transport="local", services=(ServiceSpec("api", 8080),))
    jobs = {node.name: on_demand_collectors(node, transport) for node in (FAKE, PLAIN, served)}
    try:
        assert {name: sorted(job) for name, job in jobs.items()} == {
            "fake": ["stack"],
            "plain": [],
            "web": ["services"],
        }
    finally:
        for job in (job for by_section in jobs.values() for job in by_section.values()):
            job.close()  # type: ignore[attr-defined]  # coroutines never awaited here
