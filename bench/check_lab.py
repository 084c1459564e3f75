"""Time `opsconsole --check` against real lab sshd nodes: wall and CPU, a cold process each run.

Run as root from the repository root:  python3 bench/check_lab.py [--nodes 3] [--runs 10]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.lab.sshd import SshLab  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, SshLab(tmp) as lab:
        nodes = [lab.start_node(f"gpu{i}", gpu_capture="idle") for i in range(args.nodes)]
        inventory = Path(tmp) / "lab.yaml"
        inventory.write_text(lab.inventory_yaml(nodes, gpus={n.name: {"count": 1} for n in nodes}))
        command = [sys.executable, "-m", "console", "-i", str(inventory), "--check", "--format", "json"]
        walls, cpus, reported = [], [], []
        for _ in range(args.runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
            walls.append(time.perf_counter() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
            if done.returncode != 0:
                raise SystemExit(f"--check exited {done.returncode}: {done.stdout}{done.stderr}")
            reported.append(float(done.stdout.split('"duration_s": ')[1].split(",")[0]))
        print(f"opsconsole --check, {args.nodes} lab node(s), {args.runs} runs (median / min / max)")
        for label, values in (
            ("process wall s", walls),
            ("process CPU s", cpus),
            ("checks duration_s", reported),
        ):
            print(f"  {label:<18} {statistics.median(values):.3f} / {min(values):.3f} / {max(values):.3f}")


if __name__ == "__main__":
    main()
