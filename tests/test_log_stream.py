"""Container logs and restarts against the REAL lab dockerd through a real sshd: cleaned and capped lines,
statuses, timestamps, tail/since, a follow that survives a restart, and an audit trail that holds when a
restart is cancelled mid-way (and stays free of log reads)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest

from console.actions import INTERRUPTED, AuditLog
from console.actions.docker import restart_container, tail_logs
from console.actions.logs import (
    FRAME_LIMIT,
    LINE_LIMIT,
    PENDING_LIMIT,
    LogEvent,
    LogLine,
    LogQuery,
    LogStatus,
    _frames,
    _Splitter,
    parse_stamp,
    stream_logs,
)
from console.collectors.docker import close_docker_clients
from console.inventory.model import DockerSettings, Node
from console.transport import SSHTransport
from tests.lab.docker_fixtures import IMAGE, DockerLab
from tests.lab.models import lab_node_model
from tests.lab.sshd import LabNode, SshLab

HOSTILE = r"busybox printf 'tick 1\rtick 2\rdone\n\033]0;owned\007title\n\033[2Jwipe\n'"


@pytest.fixture
async def lab(
    docker_lab: DockerLab, ssh_lab: SshLab, plain_node: LabNode
) -> AsyncIterator[tuple[Node, SSHTransport, Callable[..., str]]]:
    node = lab_node_model(ssh_lab, plain_node, docker=DockerSettings(socket=docker_lab.socket))
    transport = SSHTransport(node)
    made: list[str] = []

    def run(*args: str) -> str:
        name = f"logs-{uuid.uuid4().hex[:8]}"
        docker_lab.run_container(name, *args)
        made.append(name)
        return name

    yield node, transport, run
    await close_docker_clients(transport)
    await transport.close()
    for name in made:
        await asyncio.to_thread(docker_lab.remove, name)


async def until(
    stream: AsyncIterator[LogEvent], done: Callable[[LogEvent], bool], timeout: float = 20
) -> list[LogEvent]:
    seen: list[LogEvent] = []
    async with asyncio.timeout(timeout):
        async for event in stream:
            seen.append(event)
            if done(event):
                return seen
    raise AssertionError(f"stream ended before the expected event: {seen}")


def texts(events: list[LogEvent]) -> list[str]:
    return [event.text for event in events if isinstance(event, LogLine)]


async def test_hostile_log_lines_are_cleaned_and_reads_are_not_audited(
    lab: tuple[Node, SSHTransport, Callable[..., str]],
) -> None:
    node, transport, run = lab
    name = run(IMAGE, "sh", "-c", HOSTILE)
    audit = AuditLog()
    for _ in range(100):
        lines = [line async for line in tail_logs(transport, node, name, lines=10, audit=audit)]
        if len(lines) == 3:
            break
        await asyncio.sleep(0.1)
    # The progress bar is its last redraw; escape sequences are visible text, never control bytes.
    assert lines == ["done", "\\x1b]0;owned\\x07title", "\\x1b[2Jwipe"]
    follow = tail_logs(transport, node, name, lines=1, follow=True, audit=audit)
    assert await asyncio.wait_for(anext(follow), 10) == "\\x1b[2Jwipe"
    await follow.aclose()
    assert not audit.path.exists()  # log views are not mutations: nothing in the audit file


async def test_a_silent_container_is_following_not_connecting_and_lines_carry_timestamps(
    lab: tuple[Node, SSHTransport, Callable[..., str]],
) -> None:
    node, transport, run = lab
    name = run("--init", IMAGE, "sleep", "3600")
    stream = stream_logs(transport, node, name, LogQuery(tail=100))
    try:
        first = await anext(stream)
        assert first == LogStatus("connecting", f"connecting to {node.name}…")
        second = await asyncio.wait_for(anext(stream), 10)
        assert second == LogStatus("following", "following last 100 lines, no output yet")
    finally:
        await stream.aclose()

    talker = run("--init", IMAGE, "sh", "-c", "echo one; echo two >&2; sleep 3600")
    before = datetime.now(UTC) - timedelta(seconds=30)
    events = await until(
        stream_logs(transport, node, talker, LogQuery(tail=None)),
        lambda e: isinstance(e, LogLine) and e.text == "two",
    )
    if "one" not in texts(events):  # stdout and stderr are two pipes: their order is not kept
        events = await until(
            stream_logs(transport, node, talker, LogQuery(tail=None)), lambda e: "one" in texts([e])
        )
    one = next(e for e in events if isinstance(e, LogLine) and e.text == "one")
    two = next(e for e in events if isinstance(e, LogLine) and e.text == "two")
    assert (one.stream, two.stream) == ("stdout", "stderr")
    assert one.time is not None
    assert before < one.time <= datetime.now(UTC)
    assert one.shown(False) == "one"
    assert one.shown(True) == one.time.isoformat(timespec="milliseconds").replace("+00:00", "Z") + " one"


async def test_tail_and_since_choices(lab: tuple[Node, SSHTransport, Callable[..., str]]) -> None:
    node, transport, run = lab
    name = run(
        "--init",
        IMAGE,
        "sh",
        "-c",
        "for i in 1 2 3 4 5; do echo line $i; done; sleep 4; echo late; sleep 3600",
    )
    events = await until(
        stream_logs(transport, node, name, LogQuery(tail=None)),
        lambda e: isinstance(e, LogLine) and e.text == "late",
    )
    assert texts(events) == [*(f"line {i}" for i in range(1, 6)), "late"]
    once = [e async for e in stream_logs(transport, node, name, LogQuery(tail=2, follow=False))]
    assert texts(once) == ["line 5", "late"]
    assert once[-1] == LogStatus("ended", "2 lines")
    recent = [
        e async for e in stream_logs(transport, node, name, LogQuery(tail=None, since=2.0, follow=False))
    ]
    assert texts(recent) == ["late"]  # printed under 2 s ago; the five lines 4 s before it are older
    assert LogQuery(tail=1000, since=600).describe() == "last 1000 lines of the last 10m, following"
    assert LogQuery(tail=None, since=3600, follow=False).describe() == "all lines of the last 1h"


async def test_following_survives_a_restart_without_repeating_lines(
    docker_lab: DockerLab, lab: tuple[Node, SSHTransport, Callable[..., str]]
) -> None:
    node, transport, run = lab
    name = run(IMAGE, "sh", "-c", "echo run $(cat /proc/uptime); trap 'exit 0' TERM; sleep 3600 & wait")
    stream = stream_logs(transport, node, name, LogQuery(tail=None), poll_s=0.2)
    try:
        first = await until(stream, lambda e: isinstance(e, LogLine))
        await asyncio.to_thread(docker_lab.main.cli, "restart", "-t", "5", name)
        after = await until(stream, lambda e: isinstance(e, LogLine), timeout=30)
    finally:
        await stream.aclose()
    assert [e.state for e in after if isinstance(e, LogStatus)][-2:] == ["reconnecting", "following"]
    (old,), (new,) = texts(first), texts(after)
    assert old.startswith("run ")
    assert new.startswith("run ")
    assert new != old


async def test_a_stopped_container_is_waited_for(
    docker_lab: DockerLab, lab: tuple[Node, SSHTransport, Callable[..., str]]
) -> None:
    node, transport, run = lab
    name = run("--init", IMAGE, "sh", "-c", "echo up; sleep 3600")
    stream = stream_logs(transport, node, name, LogQuery(tail=None), poll_s=0.2)
    try:
        await until(stream, lambda e: isinstance(e, LogLine))
        await asyncio.to_thread(docker_lab.main.cli, "stop", "-t", "1", name)
        waiting = await until(stream, lambda e: isinstance(e, LogStatus) and e.state == "waiting")
        assert waiting[-1] == LogStatus("waiting", f"{name} is exited: waiting for it to start again")
        await asyncio.to_thread(docker_lab.main.cli, "start", name)
        again = await until(stream, lambda e: isinstance(e, LogLine))
        assert texts(again) == ["up"]
        await asyncio.to_thread(docker_lab.remove, name)
        gone = await until(stream, lambda e: isinstance(e, LogStatus) and e.state == "ended")
        assert gone[-1] == LogStatus("ended", f"{name} was removed")
    finally:
        await stream.aclose()


async def test_a_restart_cancelled_mid_way_is_still_audited(
    docker_lab: DockerLab, lab: tuple[Node, SSHTransport, Callable[..., str]]
) -> None:
    node, transport, run = lab
    name = run(IMAGE, "sleep", "3600")  # PID 1 ignores SIGTERM: the restart waits out its stop timeout
    audit = AuditLog()
    task = asyncio.create_task(
        restart_container(transport, node, name, audit=audit, confirmed=True, stop_timeout=30)
    )
    async with asyncio.timeout(10):
        while not audit.lines():  # noqa: ASYNC110 - the file is what is watched
            await asyncio.sleep(0.01)
    (intent,) = audit.lines()
    assert (intent["phase"], intent["ok"], intent["action"], intent["target"]) == (
        "intent",
        None,
        "docker.restart",
        name,
    )
    assert intent["call"] == f"POST /containers/{name}/restart?t=30"
    await asyncio.sleep(0.5)  # the request is with dockerd now
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    intent_again, result = audit.lines()
    assert intent_again == intent
    assert (result["id"], result["phase"], result["ok"], result["detail"]) == (
        intent["id"],
        "result",
        False,
        INTERRUPTED,
    )
    assert audit.entries() == [result]

    done = await restart_container(transport, node, name, audit=audit, confirmed=True, stop_timeout=1)
    assert done.ok, done.detail
    lines = audit.lines()[2:]
    assert [line["phase"] for line in lines] == ["intent", "result"]
    assert lines[0]["id"] == lines[1]["id"] != intent["id"]


def test_a_line_that_never_ends_stays_bounded() -> None:
    splitter = _Splitter("stdout")
    stamp = b"2026-12-06T08:47:13.123456789Z "
    assert splitter.feed(stamp + b"x" * 10) == []
    for _ in range(200):  # 20 MB of one progress bar with no newline
        splitter.feed(b"\r" + b"#" * 100_000)
        assert len(splitter.pending) <= PENDING_LIMIT
    (line,) = splitter.feed(b"\rfinished\n")
    assert line.text == "finished"
    assert line.time == datetime(2026, 12, 6, 8, 47, 13, 123456, tzinfo=UTC)
    splitter.feed(b"y" * 10_000_000)
    assert len(splitter.pending) == PENDING_LIMIT
    (long,) = splitter.feed(b"\n")
    assert len(long.text) == LINE_LIMIT
    assert long.text.endswith("…")
    assert parse_stamp(b"not a stamp x") == (None, b"not a stamp x")


async def test_a_crash_looping_container_is_followed_run_after_run(
    lab: tuple[Node, SSHTransport, Callable[..., str]],
) -> None:
    node, transport, run = lab
    name = run("--restart", "always", IMAGE, "sh", "-c", "echo run $(cat /proc/uptime); sleep 1; exit 1")
    stream = stream_logs(transport, node, name, LogQuery(tail=None), poll_s=0.1)
    seen: list[LogEvent] = []
    try:
        while len(texts(seen)) < 3:
            seen += await until(stream, lambda e: isinstance(e, LogLine), timeout=30)
    finally:
        await stream.aclose()
    runs = texts(seen)
    assert len(set(runs)) == len(runs)  # each run's line once, never repeated by a reconnect
    states = [e.state for e in seen if isinstance(e, LogStatus)]
    assert states.count("reconnecting") >= 2
    assert "ended" not in states


class _Chunks:
    """What `_frames` reads of a response (its `content.iter_any()`), fed from a list of chunks."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.content = self
        self._chunks = chunks

    async def iter_any(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk


async def test_multiplexed_frames_split_anywhere_and_an_oversize_frame_is_cut() -> None:
    def frame(kind: int, data: bytes) -> bytes:
        return bytes([kind, 0, 0, 0]) + len(data).to_bytes(4, "big") + data

    huge = b"h" * (FRAME_LIMIT + 100)
    wire = frame(1, b"one\n") + frame(2, b"two\n") + frame(1, huge) + frame(1, b"three\n")
    chunks = [wire[i : i + 7777] for i in range(0, len(wire), 7777)]  # cut mid-header and mid-frame
    got = [item async for batch in _frames(_Chunks(chunks), False) for item in batch]  # type: ignore[arg-type]
    assert [(kind, len(data)) for kind, data in got] == [(1, 4), (2, 4), (1, FRAME_LIMIT), (1, 6)]
    assert got[-1] == (1, b"three\n")
