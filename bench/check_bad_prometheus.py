"""`opsconsole --check --timeout N` against a Prometheus that misbehaves: wall time and max RSS per run.

Three real HTTP servers on 127.0.0.1 (tests/test_prometheus_deadlines.py): one that accepts and never answers,
one that answers a byte every 2 s, one that streams an endless body; one real lab sshd node beside them.
Run as root from the repository root:  python3 bench/check_bad_prometheus.py [--runs 3] [--timeout 4] [--via]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.lab.sshd import SshLab  # noqa: E402
from tests.test_prometheus_deadlines import MisbehavingHttp, run_measured  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=4.0)
    parser.add_argument("--via", action="store_true", help="reach Prometheus through gpu1's SSH tunnel")
    parser.add_argument("--kill-after", type=float, default=120.0, help="stop a run that goes on past this")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, SshLab(Path(tmp)) as lab:
        node = lab.start_node("gpu1", gpu_capture="idle")
        route = ", via: gpu1" if args.via else ""
        how = "via gpu1" if args.via else "direct"
        print(f"opsconsole --check --timeout {args.timeout:g}, Prometheus {how}")
        print(f"{'server':8} {'wall s median/max':>18} {'max RSS MiB':>12}  exit codes")
        for mode in ("silent", "trickle", "endless"):
            server = MisbehavingHttp(mode)  # type: ignore[arg-type]
            try:
                text = lab.inventory_yaml([node]).replace(
                    "nodes:\n", f"prometheus: {{url: '{server.url}'{route}, timeout: 30}}\nnodes:\n", 1
                )
                inventory = Path(tmp) / "lab.yaml"
                inventory.write_text(text)
                command = [
                    sys.executable,
                    "-m",
                    "console",
                    "-i",
                    str(inventory),
                    "--check",
                    "--format",
                    "json",
                ]
                command += ["--timeout", str(args.timeout)]
                walls, rss, codes = [], [], []
                for _ in range(args.runs):
                    code, _, _, wall, max_rss_kb = run_measured(command, kill_after=args.kill_after)
                    walls.append(wall)
                    rss.append(max_rss_kb / 1024)
                    codes.append(code)
            finally:
                server.close()
            spread = f"{statistics.median(walls):.2f}/{max(walls):.2f}"
            print(f"{mode:8} {spread:>18} {max(rss):>12.0f}  {codes}")


if __name__ == "__main__":
    main()
