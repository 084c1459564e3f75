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
    parser.add_argument("--hung", action="store_true", help="add a node whose sshd is frozen (SIGSTOP)")
    parser.add_argument("--timeout", type=float, default=10.0, help="--check --timeout for the runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, SshLab(tmp) as lab:
        nodes = [lab.start_node(f"gpu{i}", gpu_capture="idle") for i in range(args.nodes)]
        gpus = {n.name: {"count": 1} for n in nodes}
        if args.hung:
            hung = lab.start_node("hung", gpu_capture="idle")
            hung.freeze()
            nodes.append(hung)
        inventory = Path(tmp) / "lab.yaml"
        inventory.write_text(lab.inventory_yaml(nodes, gpus=gpus, connect_timeout=30))
        command = [sys.executable, "-m", "console", "-i", str(inventory), "--check", "--format", "json"]
        command += ["--timeout", str(args.timeout)]
        walls, cpus, reported = [], [], []
        for _ in range(args.runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
            walls.append(time.perf_counter() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
            if done.returncode not in (0, 3) or (done.returncode == 3 and not args.hung):
                raise SystemExit(f"--check exited {done.returncode}: {done.stdout}{done.stderr}")
            reported.append(float(done.stdout.split('"duration_s": ')[1].split(",")[0]))
        hung_text = " + 1 frozen node" if args.hung else ""
        print(
            f"opsconsole --check --timeout {args.timeout:g}, {args.nodes} lab node(s){hung_text}, "
            f"{args.runs} runs (median / min / max)"
        )
        for label, values in (
            ("process wall s", walls),
            ("process CPU s", cpus),
            ("checks duration_s", reported),
        ):
            print(f"  {label:<18} {statistics.median(values):.3f} / {min(values):.3f} / {max(values):.3f}")


if __name__ == "__main__":
    main()
