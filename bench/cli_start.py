"""How long `opsconsole` takes to start for the commands that should feel instant.

Runs each command N times in a fresh interpreter (`python -m console ...`) and prints the best and the median
wall time and the best CPU time (user + system) next to a bare `python -c pass`, plus the import time of
`console.cli` from `python -X importtime`. The best run is the figure to compare: on a shared machine the
others measure the neighbours; CPU time moves less with them than wall time does.

    python bench/cli_start.py [-n 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "python -c pass": ["-c", "pass"],
    "--version": ["-m", "console", "--version"],
    "--help": ["-m", "console", "--help"],
    "inventory check": ["-m", "console", "inventory", "check", str(ROOT / "inventories" / "pantheon.yaml")],
    "inventory list": ["-m", "console", "inventory", "list"],
}


def timed(args: list[str], runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each run."""
    walls, cpus = [], []
    for _ in range(runs):
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _, _, usage = os.wait4(process.pid, 0)
        process.returncode = 0  # reaped above
        walls.append(time.perf_counter() - started)
        cpus.append(usage.ru_utime + usage.ru_stime)
    return walls, cpus


def cli_import_us() -> int:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import console.cli"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    for line in done.stderr.splitlines():
        if line.rstrip().endswith("| console.cli"):
            return int(line.split("|")[1])
    return -1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=7, help="runs per command")
    runs = parser.parse_args().n
    print(f"{'command':<18} {'best':>8} {'median':>8} {'cpu':>8}")
    for name, args in COMMANDS.items():
        walls, cpus = timed(args, runs)
        print(f"{name:<18} {min(walls):>7.3f}s {statistics.median(walls):>7.3f}s {min(cpus):>7.3f}s")
    print(f"import console.cli (cumulative, -X importtime): {cli_import_us() / 1000:.1f} ms")


if __name__ == "__main__":
    main()
