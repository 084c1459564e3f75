"""The fleet read from Prometheus at 10, 500 and 2,000 nodes: a real Prometheus, one synthetic exporter.

    python3 bench/prom_fleet.py                      # N = 10, 500, 2000
    python3 bench/prom_fleet.py --sizes 10,500       # fewer
    python3 bench/prom_fleet.py --refreshes 10       # refreshes measured per size (default 10)

For each N: Debian's prometheus scrapes tests/lab/fleet_exporter.py (N nodes' node_exporter, DCGM and
cAdvisor series with their real labels, about 70 series a node; `honor_labels: true`, a 10 s scrape
interval from 500 nodes, as the lab notes advise). Once Prometheus holds every node, a fresh client process
reads the fleet and prints:
- first fleet: wall time of the first read, from nothing to every node's figures; its CPU (ms/read);
- queries/read: HTTP requests per read (constant, at most 10, whatever N);
- then `--seconds` of a 2 s refresh through PromFleetReader, which reads the fleet at most once per scrape
  interval (Prometheus's numbers change only when it scrapes): reads/refreshes, and the client's CPU time
  (user + system) per 2 s refresh, the mean over the window;
- RSS of the client process (peak);
- then the TUI: the real app (OpsConsoleApp, headless, 160x48) in its own process on an inventory that lists
  no node (`fleet: {source: prometheus}`), refreshing every 2 s: time until every node is a row, then its CPU
  (user + system) over `--seconds` as % of one core, the cost of one read's rows (merge, verdicts, cells,
  the table), and of one sort and one filter over every row.
Nothing here is a test; the figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
REFRESH_S = 2.0


def scrape_interval(nodes: int) -> float:
    return 1.0 if nodes <= 50 else 10.0


sys.path.insert(0, str(HERE))


def child(url: str, nodes: int, seconds: float) -> None:
    """One client process: a first read, then a 2 s refresh for `seconds`; print JSON figures."""
    from console.collectors.prom_fleet import PromFleetReader, collect_prom_fleet
    from console.collectors.prometheus import PrometheusClient

    requests = 0

    class Counting(PrometheusClient):
        async def _get(self, path, params=None):  # type: ignore[no-untyped-def]
            nonlocal requests
            requests += 1
            return await super()._get(path, params)

    async def run() -> dict[str, float]:
        client = Counting(url, timeout=30.0)
        started, cpu_started = time.monotonic(), time.process_time()
        first = await collect_prom_fleet(client)
        first_s, sweep_cpu = time.monotonic() - started, time.process_time() - cpu_started
        queries = requests
        reader = PromFleetReader(client, min_interval_s=REFRESH_S)
        await reader.read()
        refreshes = 0
        cpu0, wall0 = time.process_time(), time.monotonic()
        while time.monotonic() - wall0 < seconds:
            tick = time.monotonic()
            snapshot = await reader.read()
            refreshes += 1
            await asyncio.sleep(max(0.0, REFRESH_S - (time.monotonic() - tick)))
        cpu = time.process_time() - cpu0
        complete = sum(1 for node in snapshot.nodes if node.gpu_count and node.load1 is not None)
        return {
            "first_s": first_s,
            "sweep_cpu_ms": 1000 * sweep_cpu,
            "queries": queries,
            "reads": reader.reads - 1,
            "refreshes": refreshes,
            "cpu_ms": 1000 * cpu / max(refreshes, 1),
            "complete": complete,
            "first_nodes": len(first.nodes),
            "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }

    print(json.dumps(asyncio.run(run())))


def tui_child(url: str, nodes: int, seconds: float) -> None:
    """One TUI process: the real app on the fleet's Prometheus at a 2 s refresh; print JSON figures."""
    from console.inventory.loader import load_inventory
    from console.session import ConsoleSession
    from screens.app import OpsConsoleApp
    from screens.fleet import FleetScreen
    from widgets.fleet_table import FleetTable

    async def run() -> dict[str, float]:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "fleet.yaml"
            path.write_text(
                f'version: 1\nname: bench\nprometheus: {{url: "{url}", timeout: 30}}\n'
                "fleet: {source: prometheus}\n",
                encoding="utf-8",
            )
            inventory = load_inventory(path)
        app = OpsConsoleApp(ConsoleSession.live(inventory), cursor_blink=False)
        app.interval_override = REFRESH_S
        # A read's rows: its message's handler, then the slices that hand the rows to the table (each a
        # stretch on the event loop of its own); per read, the sum of them.
        row_costs: list[float] = []
        original = FleetScreen.on_prom_fleet_read
        sliced = getattr(FleetScreen, "_prom_rows", None)

        def timed(screen: FleetScreen, message: object) -> None:
            started = time.perf_counter()
            original(screen, message)  # type: ignore[arg-type]
            row_costs.append(time.perf_counter() - started)

        def timed_slice(screen: FleetScreen) -> None:
            started = time.perf_counter()
            sliced(screen)  # type: ignore[misc]
            if row_costs:
                row_costs[-1] += time.perf_counter() - started

        FleetScreen.on_prom_fleet_read = timed  # type: ignore[method-assign]
        if sliced is not None:
            FleetScreen._prom_rows = timed_slice  # type: ignore[method-assign]
        # The longest the event loop went without a turn (a key waits that long): a task that asks for a
        # turn every 5 ms notes how late each came, over the measured window.
        stalls: list[float] = []
        measuring = False

        async def watch() -> None:
            while True:
                asked = time.perf_counter()
                await asyncio.sleep(0.005)
                if measuring:
                    stalls.append(time.perf_counter() - asked - 0.005)

        watcher = asyncio.create_task(watch())
        started = time.monotonic()
        async with app.run_test(size=(160, 48)) as pilot:
            table = app.screen.query_one(FleetTable)
            while sum(1 for key in table.rows if key.startswith("gpu-")) < nodes:
                await pilot.pause(0.05)
                if time.monotonic() - started > 120:
                    break
            first_s = time.monotonic() - started
            await pilot.pause(REFRESH_S)
            row_costs.clear()
            cpu0, wall0 = time.process_time(), time.monotonic()
            measuring = True
            await pilot.pause(seconds)
            measuring = False
            cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
            while getattr(app.screen, "_prom_due", None):  # a read's rows still being handed: not the sort's
                await pilot.pause(0.01)
            t0 = time.perf_counter()
            table.sort_by("temp", reverse=False)
            await pilot.pause()
            sort_ms = 1000 * (time.perf_counter() - t0)
            t0 = time.perf_counter()
            table.set_filter("gpu-01")
            await pilot.pause()
            filter_ms = 1000 * (time.perf_counter() - t0)
            rows = sum(1 for key in table.rows if key.startswith("gpu-"))
            table.set_filter("")
            reads = app.session.prom_fleet.reader.reader.reads  # type: ignore[union-attr]
        watcher.cancel()
        return {
            "tui_first_s": first_s,
            "tui_cpu_pct": 100 * cpu / wall,
            "rows_ms": 1000 * max(row_costs, default=0.0),
            "row_reads": len(row_costs),
            "stall_ms": 1000 * max(stalls, default=0.0),
            "sort_ms": sort_ms,
            "filter_ms": filter_ms,
            "filtered": rows,
            "tui_reads": reads,
            "tui_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }

    print(json.dumps(asyncio.run(run())))


def measure(nodes: int, seconds: float) -> dict[str, float]:
    from tests.lab.prom_fleet import PromFleetLab

    interval = scrape_interval(nodes)
    with tempfile.TemporaryDirectory(prefix="opsconsole-promfleet-") as tmp:
        lab = PromFleetLab(Path(tmp), nodes, scrape_interval_s=interval, ready_timeout_s=240.0)
        with lab:
            out = subprocess.run(
                [sys.executable, __file__, "--child", lab.url, str(nodes), str(seconds)],
                capture_output=True,
                text=True,
                check=True,
                cwd=HERE,
            )
            figures: dict[str, float] = json.loads(out.stdout)
            tui = subprocess.run(
                [sys.executable, __file__, "--tui-child", lab.url, str(nodes), str(seconds)],
                capture_output=True,
                text=True,
                check=True,
                cwd=HERE,
            )
            figures |= json.loads(tui.stdout.strip().splitlines()[-1])
            figures["ready_s"] = lab.ready_s or float("nan")
            return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,500,2000")
    parser.add_argument("--seconds", type=float, default=30.0, help="of 2 s refreshes measured per size")
    parser.add_argument("--child", nargs=3, metavar=("URL", "NODES", "SECONDS"))
    parser.add_argument("--tui-child", nargs=3, metavar=("URL", "NODES", "SECONDS"))
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), float(args.child[2]))
        return
    if args.tui_child:
        tui_child(args.tui_child[0], int(args.tui_child[1]), float(args.tui_child[2]))
        return
    print(
        "| N | scrape s | Prometheus ready s | first fleet s | nodes read | queries/read | CPU ms/read "
        "| reads/refreshes | client CPU ms per 2 s refresh | client RSS MB "
        "| TUI all rows s | TUI CPU % of a core | TUI ms per read's rows | longest loop stall ms | sort ms "
        "| filter ms | TUI RSS MB "
        "| load avg |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for nodes in (int(size) for size in args.sizes.split(",")):
        f = measure(nodes, args.seconds)
        load = os.getloadavg()[0]
        print(
            f"| {nodes} | {scrape_interval(nodes):g} | {f['ready_s']:.1f} | {f['first_s']:.2f} "
            f"| {f['complete']:.0f}/{nodes} | {f['queries']:.0f} | {f['sweep_cpu_ms']:.0f} "
            f"| {f['reads']:.0f}/{f['refreshes']:.0f} | {f['cpu_ms']:.1f} | {f['rss_mib']:.0f} "
            f"| {f['tui_first_s']:.1f} | {f['tui_cpu_pct']:.1f} | {f['rows_ms']:.0f} | {f['stall_ms']:.0f} "
            f"| {f['sort_ms']:.0f} "
            f"| {f['filter_ms']:.0f} | {f['tui_rss_mib']:.0f} | {load:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
