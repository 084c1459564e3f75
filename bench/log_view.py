"""The log view's cost with a full buffer: adding lines, toggling timestamps, searching, and memory.

    python bench/log_view.py [--lines 5000] [--size 160x48]

Runs the LogView widget headless (App.run_test) and feeds it `--lines` typical log lines in one batch (what
one coalesced LogLinesArrived brings after a burst), then toggles timestamps (`t`) and sets a search (`/`),
each followed by a repaint. Prints wall milliseconds per step, and the Python heap the kept lines take
(tracemalloc, after the batch minus before). Prints, never asserts.

Measured 2026-12-06 on the shared 2-core machine (other jobs running), 5000 lines, 160x48, two runs each,
repaint included: Textual's RichLog (every line rendered to strips when written, and all again on each
redraw) add 3195-3524 ms, timestamps 4397-4559 ms, search 1640-1661 ms, heap 18.4-18.9 MB; the Line API
view (only the rows on screen rendered, strings kept) add 181-182 ms, timestamps 86-90 ms, search 111-115 ms,
heap 2.3 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual.app import App, ComposeResult

from widgets.log_view import LogView


class ViewApp(App[None]):
    def __init__(self, max_lines: int) -> None:
        super().__init__()
        self.max_lines = max_lines

    def compose(self) -> ComposeResult:
        yield LogView(max_lines=self.max_lines)


async def run(lines: int, size: tuple[int, int]) -> None:
    app = ViewApp(max(lines, 1))
    async with app.run_test(size=size) as pilot:
        view = app.query_one(LogView)
        batch = [
            f"2026-11-22 12:00:{n % 60:02d} INFO worker {n} processed 128 items in 0.{n % 1000:03d}s"
            for n in range(lines)
        ]
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        steps: list[tuple[str, float]] = []
        for name, step in (
            ("add", lambda: view.add_lines(batch)),
            ("timestamps", lambda: view.set_timestamps(True)),
            ("search", lambda: view.set_search("worker 4")),
        ):
            started = time.perf_counter()
            step()
            await pilot.pause()  # the repaint
            steps.append((name, time.perf_counter() - started))
            if name == "add":
                kept = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
    for name, seconds in steps:
        print(f"{name:>10}: {seconds * 1000:7.1f} ms")
    print(f"{'heap':>10}: {kept / 1e6:7.2f} MB for {len(view.lines_kept)} lines kept")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--size", default="160x48")
    args = parser.parse_args()
    width, height = (int(part) for part in args.size.split("x"))
    asyncio.run(run(args.lines, (width, height)))


if __name__ == "__main__":
    main()
