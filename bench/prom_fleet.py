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
- RSS of the client process (peak).
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
            figures["ready_s"] = lab.ready_s or float("nan")
            return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,500,2000")
    parser.add_argument("--seconds", type=float, default=30.0, help="of 2 s refreshes measured per size")
    parser.add_argument("--child", nargs=3, metavar=("URL", "NODES", "SECONDS"))
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), float(args.child[2]))
        return
    print(
        "| N | scrape s | Prometheus ready s | first fleet s | nodes read | queries/read | CPU ms/read "
        "| reads/refreshes | client CPU ms per 2 s refresh | client RSS MB | load avg |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for nodes in (int(size) for size in args.sizes.split(",")):
        f = measure(nodes, args.seconds)
        load = os.getloadavg()[0]
        print(
            f"| {nodes} | {scrape_interval(nodes):g} | {f['ready_s']:.1f} | {f['first_s']:.2f} "
            f"| {f['complete']:.0f}/{nodes} | {f['queries']:.0f} | {f['sweep_cpu_ms']:.0f} "
            f"| {f['reads']:.0f}/{f['refreshes']:.0f} | {f['cpu_ms']:.1f} | {f['rss_mib']:.0f} "
            f"| {load:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
