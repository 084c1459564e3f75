"""The console's cost with a recorded fleet at a 2 s refresh, and how fast it answers a key meanwhile.

    python bench/tui_refresh.py                          # 100, 300 and 1,000 nodes, 30 s each, this tree
    python bench/tui_refresh.py --quick                  # 100 and 300 nodes, 8 s each: for iterating
    python bench/tui_refresh.py --before-tree /tmp/ops-before --before-python /tmp/ops-before-venv/bin/python
                                                         # the same, "before" and "after" side by side
    python bench/tui_refresh.py --before-tree A --before-python PA --before-tree B --before-python PB
                                                         # two older trees (before1, before2) and this one
    python bench/tui_refresh.py --nodes 300 --seconds 60 --size 160x48 --refresh 2

Each configuration runs in a fresh child process (`--child`), so RSS is the console's own and a tree can be
measured with its own interpreter and Textual (a frozen copy of an older commit in its own venv). For each
fleet size the configurations run one after the other, so "before" and "after" see the same machine; the
load average is printed with each figure (the machine is shared: a busy neighbour inflates CPU and latency).

A child runs the real app headless (App.run_test) on the recorded fleet (console/demo/fleet.py) with `moving`
snapshots, so every poll brings new values and the fleet table really changes cell by cell. Each node's
poll answers after a fixed per-node delay of 20-290 ms (mimicking the network), so at almost any moment
some polls are in flight.

Prints, never asserts. Each configuration is measured twice after the first round of polls (and the one
full collection that follows it, screens/heap.py): `seconds` at rest (the refresh alone: the screen an
operator keeps open all day), then `seconds` with a key pressed every 250 ms.
- CPU %: process CPU time (time.process_time: user + system, all threads) over wall time, per window. With
  keys, the cursor walks down the table and back, so on a fleet taller than the terminal every press
  scrolls the table and repaints all of it: the cost of using the screen, not of keeping it open.
- frame: the time to compose a screen update and render it to the escape codes a terminal would be sent
  (`render_segments`), per frame, and frames per second.
- keypress to repaint: every 250 ms a Down (or Up) key is sent the way a terminal's input arrives
  (`driver.send_message(events.Key)`, i.e. into the app's queue), and the time is taken until the first
  frame composited after the fleet table's cursor moved. p95 "during a refresh" counts presses made while
  polls were in flight; "idle" those made while none was.
- RSS: at the end (VmRSS), and the peak (ru_maxrss).
- polls/s and CPU ms per poll: on a loaded machine a large fleet falls behind (fewer polls a second, so
  a lower CPU %); the CPU per poll compares runs made under different loads.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent
QUICK_SECONDS = 8.0
START_DEADLINE_S = 180.0  # the first round of polls at 1,000 nodes on a busy 2-core machine


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


def summary(values: list[float]) -> dict[str, float | int]:
    ms = [value * 1000 for value in values]
    if not ms:
        return {"n": 0}
    return {"n": len(ms), "median": statistics.median(ms), "p95": percentile(ms, 0.95), "max": max(ms)}


# --- the child: one configuration, one fleet size ---------------------------------------------------------


async def measure(
    nodes: int,
    refresh: float,
    seconds: float,
    size: tuple[int, int],
    frame: float | None,
    profile: str | None = None,
) -> dict[str, Any]:
    import textual
    from textual import events

    from console.demo.fleet import recorded_fleet
    from screens.app import OpsConsoleApp
    from widgets.fleet_table import FleetTable

    fleet = recorded_fleet(nodes, refresh=refresh, moving=True)
    for number, node in enumerate(fleet.inventory.nodes):
        fleet.source.delays[node.name] = 0.02 + (number % 10) * 0.03
    options = {} if frame is None else {"batch_window_s": frame}
    app = OpsConsoleApp(fleet.session(), cursor_blink=False, **options)
    started_rss = rss_mib()
    async with app.run_test(size=size) as pilot:
        deadline = time.monotonic() + START_DEADLINE_S
        while not all(fleet.source.polls.get(name, 0) for name in app.nodes):
            if time.monotonic() > deadline:
                raise SystemExit(f"the recorded fleet did not answer within {START_DEADLINE_S:g} s")
            await asyncio.sleep(0.05)
        heap = getattr(app, "heap", None)  # a tree from before screens/heap.py has none
        for _ in range(round(START_DEADLINE_S / 0.05)):  # the one full collection after the first round
            if heap is None or heap.frozen:  # is start-up, not steady state
                break
            await asyncio.sleep(0.05)
        await pilot.pause()
        screen = app.screen
        table = screen.query_one(FleetTable)
        table.focus()
        await pilot.pause()
        compositor = screen._compositor
        render_update = compositor.render_update
        frames = 0
        frame_s = 0.0
        watch: dict[str, Any] = {}

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
        load_before = os.getloadavg()[0]
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        # At rest first (the refresh alone: the screen an operator keeps open), then the same again with a
        # key pressed every 250 ms (the cursor walks the table, scrolling it: the cost of using the screen).
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)
        rest_cpu, rest_wall = time.process_time() - cpu0, time.perf_counter() - wall0
        rest_polls = sum(fleet.source.polls.values()) - polls_before
        rest_frames, rest_frame_s = frames, frame_s
        frames, frame_s = 0, 0.0
        polls_before = sum(fleet.source.polls.values())
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
        if profiler is not None and profile:
            profiler.disable()
            profiler.dump_stats(profile)
        polls = sum(fleet.source.polls.values()) - polls_before
        rss_now = rss_mib()
    return {
        "textual": textual.__version__,
        "nodes": nodes,
        "refresh": refresh,
        "size": f"{size[0]}x{size[1]}",
        "rest_cpu_pct": 100 * rest_cpu / rest_wall,
        "rest_cpu_ms_per_poll": 1000 * rest_cpu / max(rest_polls, 1),
        "rest_frames_per_s": rest_frames / rest_wall,
        "rest_frame_ms": 1000 * rest_frame_s / max(rest_frames, 1),
        "wall_s": wall,
        "cpu_pct": 100 * cpu / wall,
        "polls_per_s": polls / wall,
        "cpu_ms_per_poll": 1000 * cpu / max(polls, 1),
        "frames_per_s": frames / wall,
        "frame_ms": 1000 * frame_s / max(frames, 1),
        "during": summary(during),
        "idle": summary(idle),
        "missed": missed,
        "rss_mib": rss_now,
        "peak_rss_mib": peak_rss_mib(),
        "started_rss_mib": started_rss,
        "load": [load_before, os.getloadavg()[0]],
    }


def child(args: argparse.Namespace) -> None:
    tree = Path(args.tree).resolve()
    sys.path.insert(0, str(tree))
    os.chdir(tree)
    width, height = (int(part) for part in args.size.split("x"))
    figures = asyncio.run(
        measure(int(args.nodes), args.refresh, args.seconds, (width, height), args.frame, args.profile)
    )
    print("FIGURES " + json.dumps(figures))


# --- the parent: every configuration at every size ----------------------------------------------------


def run_child(label: str, python: str, tree: str, nodes: int, args: argparse.Namespace) -> dict[str, Any]:
    command = [python, str(Path(__file__).resolve()), "--child", "--tree", tree, "--nodes", str(nodes)]
    command += ["--refresh", str(args.refresh), "--seconds", str(args.seconds), "--size", args.size]
    if args.frame is not None and label == "after":
        command += ["--frame", str(args.frame)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tree, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("FIGURES "):
            figures: dict[str, Any] = json.loads(line.removeprefix("FIGURES "))
            figures["label"] = label
            return figures
    tail = (done.stdout + done.stderr).strip().splitlines()[-15:]
    return {"label": label, "nodes": nodes, "error": f"exit {done.returncode}: " + " | ".join(tail)}


def describe(figures: dict[str, Any]) -> str:
    if "error" in figures:
        return f"{figures['label']:>7} {figures['nodes']:>5}  FAILED {figures['error']}"
    during, idle = figures["during"], figures["idle"]

    def p95(part: dict[str, Any]) -> str:
        return f"{part['p95']:.0f} ({part['n']})" if part["n"] else "–"

    return (
        f"{figures['label']:>7} {figures['nodes']:>5} {figures['textual']:>7} "
        f"{figures['rest_cpu_pct']:>5.1f} {figures['rest_cpu_ms_per_poll']:>5.2f} "
        f"{figures['rest_frames_per_s']:>4.1f} {figures['cpu_pct']:>6.1f} "
        f"{figures['frame_ms']:>6.1f} {figures['frames_per_s']:>5.1f} {p95(during):>9} "
        f"{during.get('max', 0):>6.0f} {p95(idle):>9} {figures['missed']:>4} {figures['rss_mib']:>6.0f} "
        f"{figures['peak_rss_mib']:>6.0f} {figures['polls_per_s']:>6.1f} {figures['cpu_ms_per_poll']:>6.2f}  "
        f"{figures['load'][0]:.2f}-{figures['load'][1]:.2f}"
    )


HEADER = (
    "                       at rest         with a key every 250 ms\n"
    "  tree   nodes textual  CPU% CPU ms fps   CPU%  frame   fps   key-p95 key-max  idle-p95 miss   RSS"
    "   peak polls/s CPU ms  load\n"
    "                      (core) /poll     (core)  ms         refresh (n)    ms    ms (n)         MiB"
    "   MiB         /poll"
)


def parent(args: argparse.Namespace) -> None:
    sizes = [int(part) for part in args.nodes.split(",")]
    configurations = []
    pythons = args.before_python or []
    for number, tree in enumerate(args.before_tree or []):
        python = pythons[number] if number < len(pythons) else sys.executable
        label = "before" if len(args.before_tree) == 1 else f"before{number + 1}"
        configurations.append((label, python, tree))
    if not args.before_only:
        configurations.append(("after", sys.executable, str(HERE)))
    windows = f"{args.seconds:g} s at rest, then {args.seconds:g} s with keys"
    print(f"refresh {args.refresh:g} s, terminal {args.size}, {windows}, each")
    print(HEADER, flush=True)
    results = []
    for nodes in sizes:
        for label, python, tree in configurations:
            figures = run_child(label, python, tree, nodes, args)
            results.append(figures)
            print(describe(figures), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", default=None, help="fleet sizes, comma-separated (default 100,300,1000)")
    parser.add_argument("--refresh", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=None, help="steady state measured (default 30)")
    parser.add_argument("--size", default="160x48", help="terminal WIDTHxHEIGHT")
    parser.add_argument("--quick", action="store_true", help=f"100 and 300 nodes, {QUICK_SECONDS:g} s each")
    parser.add_argument(
        "--before-tree",
        action="append",
        help="also measure this tree (a frozen copy of an older commit); once more for another one",
    )
    parser.add_argument(
        "--before-python",
        action="append",
        help="the interpreter for the --before-tree of the same place (its own venv; default this one)",
    )
    parser.add_argument("--before-only", action="store_true", help="measure only --before-tree")
    parser.add_argument("--json", help="also write the raw figures here")
    parser.add_argument("--frame", type=float, help="this tree's frame in seconds (default: the app's)")
    parser.add_argument("--profile", help="with --child: cProfile the measured window into this file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tree", default=str(HERE), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.nodes is None:
        args.nodes = "100,300" if args.quick else "100,300,1000"
    if args.seconds is None:
        args.seconds = QUICK_SECONDS if args.quick else 30.0
    if args.child:
        child(args)
    else:
        parent(args)


if __name__ == "__main__":
    main()
