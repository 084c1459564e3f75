"""The console's cost with a 100-node fleet at a 2 s refresh, and how fast it answers a key meanwhile.

    python bench/tui_refresh.py [--nodes 100] [--refresh 2] [--seconds 30] [--size 160x48]

Runs the real app headless (App.run_test) on the recorded fleet (console/demo/fleet.py) with `moving`
snapshots, so every poll brings new values and the fleet table really changes cell by cell. Each node's
poll answers after a fixed per-node delay of 20-290 ms (mimicking the network), so at almost any moment
some polls are in flight.

Prints, never asserts:
- CPU %: process CPU time (time.process_time: user + system, all threads) over wall time, measured over
  the steady-state run after the first round of polls.
- RSS: current (VmRSS from /proc/self/status) and peak (getrusage ru_maxrss), at the end.
- Keypress to repaint: every 250 ms a Down (or Up) key is sent the way a terminal's input arrives
  (`driver.send_message(events.Key)`, i.e. into the app's queue), and the time is taken until the first
  frame composited after the fleet table's cursor moved. A frame is the screen's compositor update; the
  headless driver does not write to a terminal, so the bench also renders each update to the escape-code
  string a real terminal would receive (`render_segments`) inside the timed path. Reported separately
  for presses made while polls were in flight ("during a refresh").
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual import events

from console.demo.fleet import recorded_fleet
from screens.app import OpsConsoleApp
from widgets.fleet_table import FleetTable


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def describe(name: str, values: list[float]) -> str:
    if not values:
        return f"{name}: no samples"
    ms = [value * 1000 for value in values]
    return (
        f"{name}: n={len(ms)}  median {statistics.median(ms):.1f} ms  p95 {percentile(ms, 0.95):.1f} ms  "
        f"max {max(ms):.1f} ms"
    )


async def run(nodes: int, refresh: float, seconds: float, size: tuple[int, int]) -> None:
    fleet = recorded_fleet(nodes, refresh=refresh, moving=True)
    for number, node in enumerate(fleet.inventory.nodes):
        fleet.source.delays[node.name] = 0.02 + (number % 10) * 0.03
    app = OpsConsoleApp(fleet.session(), cursor_blink=False)
    started_rss = rss_mib()
    async with app.run_test(size=size) as pilot:
        deadline = time.monotonic() + 30
        while not all(fleet.source.polls.get(name, 0) for name in app.nodes):
            if time.monotonic() > deadline:
                raise SystemExit("the recorded fleet did not answer within 30 s")
            await asyncio.sleep(0.05)
        await pilot.pause()
        screen = app.screen
        table = screen.query_one(FleetTable)
        table.focus()
        compositor = screen._compositor
        render_update = compositor.render_update
        frames = 0
        watch: dict[str, Any] = {}

        frame_s = 0.0

        def timed_render_update(*args: Any, **kwargs: Any) -> Any:
            nonlocal frames, frame_s
            began = time.perf_counter()
            update = render_update(*args, **kwargs)
            if update is not None:
                update.render_segments(app.console)  # what a terminal would be sent
            frames += 1
            frame_s += time.perf_counter() - began
            if "row" in watch and table.cursor_row != watch["row"] and "done" not in watch:
                watch["done"] = time.perf_counter()
                watch["event"].set()
            return update

        compositor.render_update = timed_render_update  # type: ignore[method-assign]
        polls_before = sum(fleet.source.polls.values())
        frames = 0
        cpu0, wall0 = time.process_time(), time.perf_counter()
        during: list[float] = []
        idle: list[float] = []
        missed = 0
        key = "down"
        driver = app._driver
        assert driver is not None
        while time.perf_counter() - wall0 < seconds:
            await asyncio.sleep(0.25)
            row = table.cursor_row
            key = (
                "up"
                if (key == "down" and row >= table.row_count - 2) or (key == "up" and row > 1)
                else "down"
            )
            watch.clear()
            watch.update(row=row, event=asyncio.Event())
            in_flight = sum(app.in_flight(name) for name in app.nodes)
            pressed = time.perf_counter()
            driver.send_message(events.Key(key, None))
            try:
                await asyncio.wait_for(watch["event"].wait(), 2.0)
            except TimeoutError:
                missed += 1
                continue
            (during if in_flight else idle).append(watch["done"] - pressed)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        polls = sum(fleet.source.polls.values()) - polls_before
    print(f"fleet: {nodes} recorded nodes, refresh {refresh:g} s, terminal {size[0]}x{size[1]}")
    print(f"measured: {wall:.1f} s of steady state (after the first round of polls)")
    print(
        f"polls answered: {polls} ({polls / wall:.1f}/s); frames composited: {frames} ({frames / wall:.1f}/s)"
    )
    per_frame = 1000 * frame_s / max(frames, 1)
    print(f"time composing and rendering frames: {frame_s:.2f} s ({per_frame:.1f} ms a frame)")
    print(f"CPU: {100 * cpu / wall:.1f} % of one core ({cpu:.2f} s CPU over {wall:.1f} s wall)")
    print(f"RSS: {rss_mib():.1f} MiB now, {peak_rss_mib():.1f} MiB peak (started at {started_rss:.1f} MiB)")
    print("keypress to repaint (key into the app's queue -> first frame composited after the cursor moved):")
    print("  " + describe("during a refresh (polls in flight)", during))
    print("  " + describe("no poll in flight", idle))
    if missed:
        print(f"  {missed} presses saw no repaint within 2 s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--refresh", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--size", default="160x48", help="terminal WIDTHxHEIGHT")
    args = parser.parse_args()
    width, height = (int(part) for part in args.size.split("x"))
    asyncio.run(run(args.nodes, args.refresh, args.seconds, (width, height)))


if __name__ == "__main__":
    main()
