"""How long `opsconsole` takes to start for the commands that should feel instant.

Runs each command N times in a fresh interpreter (`python -m console ...`) and prints the best and the median
wall time next to a bare `python -c pass`, plus the import time of `console.cli` from `python -X importtime`.
The best run is the figure to compare: on a shared machine the others measure the neighbours.

    python bench/cli_start.py [-n 7]
"""

from __future__ import annotations

import argparse
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


def wall(args: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, check=False)
        times.append(time.perf_counter() - started)
    return times


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
    print(f"{'command':<18} {'best':>8} {'median':>8}")
    for name, args in COMMANDS.items():
        times = wall(args, runs)
        print(f"{name:<18} {min(times):>7.3f}s {statistics.median(times):>7.3f}s")
    print(f"import console.cli (cumulative, -X importtime): {cli_import_us() / 1000:.1f} ms")


if __name__ == "__main__":
    main()
