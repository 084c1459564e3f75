"""`opsconsole --check`: select, lock, run once, filter, render, exit with the worst status."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fnmatch
import os
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from console.checks.lock import check_lock, lock_path
from console.checks.model import CheckReport, Status
from console.checks.report_monitoring import render_nagios, render_prometheus, write_atomically
from console.checks.report_text import render_json, render_text
from console.checks.runner import run_checks
from console.inventory.model import Inventory, Node
from console.streams.source import StreamingSource
from console.wizards import fixes as _fixes  # noqa: F401  registers the catalogue's fix names with the checks
from console.wizards import stack_checks as _stack  # noqa: F401  registers the AI stack's check rules

FORMATS = ("text", "json", "nagios", "prometheus")
CLOSE_GRACE_S = 0.75  # closing connections politely, after the run's deadline
TEARDOWN_GRACE_S = 0.5  # cancelled tasks finishing, after that
MIN_RUN_S = 0.5  # a run whose start-up ate the whole --timeout still asks the nodes this long
T = TypeVar("T")


class SelectionError(ValueError):
    """A --node or --group that names nothing in the inventory."""


@dataclass(frozen=True, slots=True)
class CheckOptions:
    format: str = "text"
    timeout: float = 60.0
    nodes: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()
    quiet: bool = False
    output: str | None = None
    wait_lock: bool = False
    # time.monotonic() when the process started: --timeout counts from there, so the interpreter's start-up
    # and imports (seconds on a loaded machine) come out of the run's time, not on top of it.
    started: float | None = None

    def remaining(self) -> float:
        if self.started is None:
            return self.timeout
        return max(self.timeout - (time.monotonic() - self.started), MIN_RUN_S)


def select_nodes(inventory: Inventory, names: Sequence[str], groups: Sequence[str]) -> tuple[Node, ...]:
    known = {node.name for node in inventory.nodes}
    unknown = [name for name in names if name not in known]
    if unknown:
        have = ", ".join(node.name for node in inventory.nodes)
        raise SelectionError(f"unknown node {', '.join(unknown)} (inventory has: {have})")
    missing = [group for group in groups if group not in inventory.groups]
    if missing:
        raise SelectionError(
            f"unknown group {', '.join(missing)} (inventory has: {', '.join(inventory.groups)})"
        )
    return tuple(
        node
        for node in inventory.nodes
        if (not names or node.name in names) and (not groups or set(groups) & set(node.groups))
    )


def filter_results(report: CheckReport, only: Sequence[str], skip: Sequence[str]) -> CheckReport:
    """--only/--skip are globs on check ids (`gpu.*`, `nfs.responsive`)."""

    def wanted(check: str) -> bool:
        if only and not any(fnmatch.fnmatchcase(check, pattern) for pattern in only):
            return False
        return not any(fnmatch.fnmatchcase(check, pattern) for pattern in skip)

    return replace(report, results=tuple(result for result in report.results if wanted(result.check)))


async def _run(inventory: Inventory, nodes: tuple[Node, ...], timeout: float, stated: float) -> CheckReport:
    # The same streaming source as the TUI, once: each stream's first row; never mutates (structurally).
    source = StreamingSource(
        inventory, nodes, one_shot=True, read_only=True, poll_within=poll_within(timeout)
    )
    try:
        return await run_checks(inventory, source, nodes=nodes, timeout=timeout, stated_timeout=stated)
    finally:
        # Closing politely must not stretch the run past its deadline.
        await asyncio.wait([asyncio.create_task(source.close())], timeout=CLOSE_GRACE_S)


class DaemonExecutor(concurrent.futures.ThreadPoolExecutor):  # asyncio accepts no other kind
    """The loop's default executor for a run with a deadline: one daemon thread per call, never joined.

    asyncio.run() shuts the default ThreadPoolExecutor down by joining its threads, and the interpreter joins
    them again at exit, so one blocking call left behind (a statfs on a hung mount, a DNS lookup that never
    returns) would hold a cron run past its deadline. A daemon thread is simply abandoned at exit.
    """

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def call() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # handed to the awaiting coroutine, as the pool does
                future.set_exception(exc)

        threading.Thread(target=call, daemon=True, name="opsconsole-blocking").start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Nothing to join: the pool's own workers are never started."""


def run_bounded(main: Coroutine[Any, Any, T], *, teardown: float = TEARDOWN_GRACE_S) -> T:
    """asyncio.run() without its unbounded waits: leftover tasks get `teardown` seconds after a cancel,
    and no thread is waited for (DaemonExecutor). `main` must bound itself."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.set_default_executor(DaemonExecutor())
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            leftovers = [task for task in asyncio.all_tasks(loop) if not task.done()]
            for task in leftovers:
                task.cancel()
            if leftovers:
                loop.run_until_complete(asyncio.wait(leftovers, timeout=teardown))
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.wait_for(loop.shutdown_asyncgens(), teardown))
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def poll_within(timeout: float) -> float:
    """How long a node's collectors may take in a run of `timeout` seconds: enough less that a section
    that hangs (a frozen dockerd) is marked timed out while the node's other results still make the run."""
    return max(timeout - min(1.0, 0.2 * timeout), 0.0)


def render(report: CheckReport, options: CheckOptions) -> str:
    if options.format == "json":
        return render_json(report)
    if options.format == "nagios":
        return render_nagios(report)
    if options.format == "prometheus":
        return render_prometheus(report)
    color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    return render_text(report, color=color)


def run_check_mode(inventory: Inventory, options: CheckOptions) -> int:
    nodes = select_nodes(inventory, options.nodes, options.groups)
    wait = options.remaining() if options.wait_lock else None
    with check_lock(lock_path(inventory.path), wait=wait):
        report = filter_results(
            run_bounded(_run(inventory, nodes, options.remaining(), options.timeout)),
            options.only,
            options.skip,
        )
    text = render(report, options)
    if options.output:
        write_atomically(options.output, text if text.endswith("\n") else text + "\n")
    elif not (options.quiet and report.status is Status.OK):
        print(text)  # noqa: T201 - the report is this mode's output
    return report.exit_code
