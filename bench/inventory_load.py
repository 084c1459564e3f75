"""Time `load_inventory` on large and hostile inventories (each case in a fresh child with a deadline).

    python3 bench/inventory_load.py              # this tree
    python3 bench/inventory_load.py --tree DIR   # another checkout (e.g. `git archive REV | tar -x -C DIR`)

Cases: a full 4 MiB inventory (14,000 nodes written out in full), a 2,000-node fleet that merges one anchor,
the 651-byte merge-key bomb, 3,000 nested `[`, and a 50 MB file. Prints wall seconds, peak RSS and the first
line of the outcome; a case that runs past --deadline is reported as such.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import resource, sys, time
from console.inventory import InventoryError, load_inventory
start = time.perf_counter()
try:
    outcome = f"ok: {len(load_inventory(sys.argv[1]).nodes)} nodes"
except InventoryError as err:
    outcome = str(err.errors[0])
except RecursionError as err:
    outcome = f"RecursionError: {err}"
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(f"{time.perf_counter() - start:8.2f} s {peak:6d} MiB  {outcome[:90]}")
"""

NODE = """  n{i}:
    host: 10.0.{a}.{b}
    groups: [gpu, rack-a]
    ssh: {{user: ops, port: 22}}
    gpus: {{count: 4, model: A100}}
    mounts:
      - {{path: /mnt/atlas/models, source: "atlas:/export/models", mode: ro, fstype: nfs4}}
    services:
      - {{name: comfy, port: 8188, bind: 127.0.0.1}}
"""


def cases(folder: Path) -> dict[str, Path]:
    full, size, i = ["version: 1", "nodes:"], 0, 0
    while size < 4 * 1024 * 1024 - 600:
        text = NODE.format(i=i, a=i // 250 % 250, b=i % 250)
        full.append(text.rstrip("\n"))
        size, i = size + len(text) + 1, i + 1
    anchored = ["version: 1", "nodes:", "  n0: &common {host: h, groups: [gpu], mounts: [{path: /a}]}"]
    anchored += [f"  n{i}: {{<<: *common, host: 10.0.{i // 250}.{i % 250}}}" for i in range(1, 2000)]
    bomb = ["version: 1", "x0: &x0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9, j: 10}"]
    bomb += [f"x{n}: &x{n} {{<<: [" + ", ".join([f"*x{n - 1}"] * 9) + "]}" for n in range(1, 9)]
    bomb += ["nodes:", "  a:", "    <<: *x8", "    host: h"]
    texts = {
        "full 4 MiB, 14k nodes": "\n".join(full),
        "2000 nodes, one anchor": "\n".join(anchored),
        "merge-key bomb (651 B)": "\n".join(bomb),
        "3000 nested [": "version: 1\nnodes:\n  a: {host: h, groups: " + "[" * 3000 + "]" * 3000 + "}",
        "50 MB": "\n".join(full) + "\n" + "# padding\n" * 4_600_000,
    }
    paths = {}
    for index, (name, text) in enumerate(texts.items()):
        paths[name] = folder / f"case{index}.yaml"
        paths[name].write_text(text + "\n")
    return paths


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--tree", default=str(Path(__file__).resolve().parents[1]))
    parser.add_argument("--deadline", type=float, default=120.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for name, path in cases(Path(folder)).items():
            env = {**os.environ, "PYTHONPATH": args.tree}
            try:
                done = subprocess.run(
                    [sys.executable, "-c", CHILD, str(path)],
                    env=env,
                    cwd=args.tree,  # `python -c` puts the working directory first on sys.path
                    capture_output=True,
                    text=True,
                    timeout=args.deadline,
                )
                shown = (done.stdout.strip() or done.stderr.strip().splitlines()[-1])[:120]
            except subprocess.TimeoutExpired:
                shown = f"still running after {args.deadline:.0f} s (killed)"
            print(f"{name:24} {shown}", flush=True)


if __name__ == "__main__":
    main()
