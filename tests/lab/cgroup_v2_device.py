"""Containers' cost on a real cgroup v2 kernel (the lab machine runs v1): run as root on a v2 machine.

    python3 tests/lab/cgroup_v2_device.py

It makes two cgroups as Docker would, `/opsconsole-check/docker-ID.scope` (a cgroup parent, found through
the burner's /proc/PID/cgroup) and `/docker/ID2` (cgroupfs's default place, found with no pid), puts a
process burning CPU and holding 24 MiB into the first under `cpu.max` 50000/100000 and `memory.max` 64 MiB,
then asks the basics shell's cgroup function twice, 2 s apart, and checks what it read. Standard library
only; everything it made is removed. Exit status 0: all held.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from console.collectors.cgroups import CGROUP_FUNCTION, parse_cgroup_line, with_cpu_pct

ROOT = Path("/sys/fs/cgroup")
ID, ID2 = "ab" * 32, "cd" * 32
PARENT = ROOT / "opsconsole-check"
GROUP, DEFAULT = PARENT / f"docker-{ID}.scope", ROOT / "docker" / ID2
SCRIPT = (
    'r() { v=; IFS= read -r v 2>/dev/null <"$1"; }\n'
    + CGROUP_FUNCTION
    + ('while read -r id rest; do cg "$id" $rest; printf "%s\\n" "@@end $id"; done\n')
)
MIB = 1024 * 1024


def ask(shell: subprocess.Popen[str], request: str) -> list[str]:
    assert shell.stdin is not None
    assert shell.stdout is not None
    shell.stdin.write(request + "\n")
    shell.stdin.flush()
    lines = []
    while not (line := shell.stdout.readline().rstrip("\n")).startswith("@@end"):
        lines.append(line.removeprefix("@@cgroup "))
    return lines


def main() -> int:
    if not (ROOT / "cgroup.controllers").exists():
        print("not cgroup v2: /sys/fs/cgroup/cgroup.controllers missing")
        return 2
    print("kernel", os.uname().release, "| controllers:", (ROOT / "cgroup.controllers").read_text().strip())
    made = [PARENT, GROUP, DEFAULT.parent, DEFAULT]
    burner = None
    try:
        for path in made:
            path.mkdir(exist_ok=True)
        (PARENT / "cgroup.subtree_control").write_text("+cpu +memory")
        (DEFAULT.parent / "cgroup.subtree_control").write_text("+cpu +memory")
        (GROUP / "cpu.max").write_text("50000 100000")
        (GROUP / "memory.max").write_text(str(64 * MIB))
        code = "x = bytearray(24 << 20)\nfor i in range(0, len(x), 4096): x[i] = 1\nwhile True: pass"
        burner = subprocess.Popen(
            ["sh", "-c", f'echo $$ > {GROUP}/cgroup.procs && exec python3 -c "$0"', code]
        )
        time.sleep(1.0)
        print("burner's cgroup:", Path(f"/proc/{burner.pid}/cgroup").read_text().strip())
        shell = subprocess.Popen(
            ["sh", "-c", SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        request = f"{ID}:{burner.pid} {ID2}:999999999"
        uptime = lambda: float(Path("/proc/uptime").read_text().split()[0])  # noqa: E731
        first, then = ask(shell, f"1 {request}"), uptime()
        time.sleep(2.0)
        second, now = ask(shell, f"2 {request}"), uptime()
        shell.kill()
        print("first:", first)
        print("second:", second)
        before = [cost for line in first if (cost := parse_cgroup_line(line))]
        after = [cost for line in second if (cost := parse_cgroup_line(line))]
        costs = {cost.id: cost for cost in with_cpu_pct(after, before, now - then)}
        burn, idle = costs[ID], costs[ID2]
        print("burner:", burn)
        print("cgroupfs default place, no pid:", idle)
        checks = {
            "v2": burn.cgroup == "v2" and idle.cgroup == "v2",
            "cpu limit 0.5": burn.cpu_limit == 0.5,
            "cpu % near 50": burn.cpu_pct is not None and 40.0 <= burn.cpu_pct <= 55.0,
            "memory limit 64 MiB": burn.mem_limit_bytes == 64 * MIB,
            "memory used 24-64 MiB": burn.mem_used_bytes is not None
            and 24 * MIB <= burn.mem_used_bytes < 64 * MIB,
            "empty group: 0 % CPU, no limits": idle.cpu_pct == 0.0
            and idle.mem_unlimited
            and idle.cpu_unlimited,
        }
        for what, held in checks.items():
            print("ok  " if held else "FAIL", what)
        return 0 if all(checks.values()) else 1
    finally:
        if burner is not None:
            burner.kill()
            burner.wait()
        time.sleep(0.2)
        for path in reversed(made):
            try:
                path.rmdir()
            except OSError as exc:
                print("could not remove", path, exc)


if __name__ == "__main__":
    sys.exit(main())
