"""Fleet benchmark: opsconsole's streams vs bare asyncssh, parallel OpenSSH and ansible-core on N real hosts.

Run as root from the repository root:

    python3 bench/fleet.py                      # N = 20, 100, 300
    python3 bench/fleet.py --sizes 20,100       # fewer
    python3 bench/fleet.py --smoke              # N = 3, a short run (CI-sized, under a minute)

For each N it starts N real sshd hosts in network namespaces it creates (tests/lab/netns.py: a hub namespace
with a bridge, 10.222.x.y addresses only in there, the lab's non-root user, the nvidia-smi replay of a real
H100 that honours -lms), then measures, each client in a fresh process inside the hub namespace:

- opsconsole: StreamingSource cold start to a full fleet snapshot (every node: GPU sample, basics), then
  `--refreshes` warm refreshes every `--interval` s (poll + evaluate every node; the background stream reading
  in between counts too): client CPU per node per refresh, and the console's RSS.
- bare asyncssh: connect + one nvidia-smi query per host (the floor for a cold start), then one query on the
  open connections per round.
- parallel OpenSSH (`xargs -P`, BatchMode, the lab's key and known_hosts) and ansible-core `-m raw` (`-f`),
  the same query on every host. ansible-core is pip-installed into /tmp/opsconsole-bench-ansible if missing
  (never into the project); --smoke uses it only when already there.
- `opsconsole --check` (the CLI, whatever source it is wired to) and run_checks over a one-shot
  StreamingSource: wall, results per node.

Remote processes are counted exactly: every host runs in one pid namespace whose last pid the lab reads
(short-lived processes included). Client CPU is the client's own (process_time; children's rusage for
OpenSSH and ansible). The hosts share this machine's cores with the client, so compare CPU first, and wall
within one run. Everything the benchmark made is removed at exit (namespaces, processes, files).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from console.collectors.gpu import QUERY_COMMAND  # noqa: E402

ANSIBLE_VENV = Path("/tmp/opsconsole-bench-ansible")
WORKER_TIMEOUT_S = 600


# --- workers: one fresh process per client, inside the hub namespace --------------------------------------


def _mark(name: str) -> None:
    """Tell the parent (which reads the hosts' pid counter now) and wait for its go."""
    print(f"MARK {name}", flush=True)
    sys.stdin.readline()


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def worker_console(inventory_path: str, refreshes: int, interval: float) -> dict[str, Any]:
    from console.checks.rules import evaluate
    from console.inventory import load_inventory
    from console.streams.source import StreamingSource

    inventory = load_inventory(inventory_path)
    nodes = inventory.nodes
    source = StreamingSource(inventory)
    _mark("cold-start")
    wall, cpu = time.perf_counter(), time.process_time()
    snapshots = await asyncio.gather(*(source.poll(node) for node in nodes))
    cold_wall, cold_cpu = time.perf_counter() - wall, time.process_time() - cpu
    _mark("cold-end")
    complete = sum(
        1
        for snapshot in snapshots
        if snapshot.reachable and snapshot.gpu is not None and snapshot.gpu.status == "ok"
        and source.latest_basics[snapshot.node].error is None
    )  # fmt: skip
    # The second poll starts the slow background reads (disk use every 60 s, GPU processes every 30 s):
    # one unmeasured round, and let them finish, so that the warm window shows refreshes only.
    _mark("slow-start")
    await asyncio.gather(*(source.poll(node) for node in nodes))
    for _ in range(600):
        if all(
            streams["basics"].shell.disk_reads and streams["gpu"].process_reads
            for streams in source.streams.values()
        ):
            break
        await asyncio.sleep(0.1)
    _mark("slow-end")
    _mark("warm-start")
    wall, cpu = time.perf_counter(), time.process_time()
    rounds = []
    for _ in range(refreshes):
        tick = time.monotonic()
        snapshots = await asyncio.gather(*(source.poll(node) for node in nodes))
        for node, snapshot in zip(nodes, snapshots, strict=True):
            evaluate(node, snapshot)
        rounds.append(time.monotonic() - tick)
        await asyncio.sleep(max(0.0, interval - (time.monotonic() - tick)))
    warm_cpu, warm_wall = time.process_time() - cpu, time.perf_counter() - wall
    _mark("warm-end")
    rss = _rss_mb()
    await source.close()
    return {
        "cold_wall": cold_wall,
        "cold_cpu": cold_cpu,
        "complete": complete,
        "warm_cpu_ms": 1000 * warm_cpu / (refreshes * len(nodes)),
        "warm_round_wall": statistics.median(rounds),
        "warm_window": warm_wall,
        "rss_mb": rss,
    }


async def worker_bare(inventory_path: str, refreshes: int) -> dict[str, Any]:
    import asyncssh

    from console.inventory import load_inventory

    inventory = load_inventory(inventory_path)
    nodes = inventory.nodes

    async def connect_and_query(node: Any) -> tuple[Any, int | None]:
        conn = await asyncssh.connect(
            node.host,
            port=node.ssh.port or 22,
            username=node.ssh.user,
            client_keys=[node.ssh.identity_file],
            known_hosts=node.ssh.known_hosts,
            agent_path=None,
            config=[],
        )
        result = await conn.run(QUERY_COMMAND)
        return conn, result.exit_status

    _mark("cold-start")
    wall, cpu = time.perf_counter(), time.process_time()
    opened = await asyncio.gather(*(connect_and_query(node) for node in nodes))
    cold_wall, cold_cpu = time.perf_counter() - wall, time.process_time() - cpu
    _mark("cold-end")
    conns = [conn for conn, _ in opened]
    _mark("warm-start")
    wall, cpu = time.perf_counter(), time.process_time()
    rounds = []
    for _ in range(refreshes):
        tick = time.monotonic()
        await asyncio.gather(*(conn.run(QUERY_COMMAND) for conn in conns))
        rounds.append(time.monotonic() - tick)
    warm_cpu = time.process_time() - cpu
    _mark("warm-end")
    rss = _rss_mb()
    for conn in conns:
        conn.close()
    return {
        "cold_wall": cold_wall,
        "cold_cpu": cold_cpu,
        "complete": sum(1 for _, status in opened if status == 0),
        "warm_cpu_ms": 1000 * warm_cpu / (refreshes * len(nodes)),
        "warm_round_wall": statistics.median(rounds),
        "rss_mb": rss,
    }


async def worker_check(inventory_path: str, timeout: float) -> dict[str, Any]:
    from console.checks.runner import run_checks
    from console.inventory import load_inventory
    from console.streams.source import StreamingSource

    inventory = load_inventory(inventory_path)
    source = StreamingSource(inventory, one_shot=True)
    _mark("start")
    wall, cpu = time.perf_counter(), time.process_time()
    report = await run_checks(inventory, source, timeout=timeout)
    await asyncio.wait([asyncio.create_task(source.close())], timeout=1.0)
    return {
        "wall": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu,
        **_results([r.to_json() for r in report.results]),
    }


def _results(results: list[dict[str, Any]]) -> dict[str, Any]:
    nodes = {result["node"] for result in results}
    ok = {
        result["node"] for result in results if result["check"] == "gpu.present" and result["status"] == "ok"
    }
    timed_out = sum(1 for result in results if "timed out" in str(result.get("summary")))
    return {"nodes": len(nodes), "gpu_ok": len(ok), "timed_out": timed_out}


def run_worker_main(args: argparse.Namespace) -> None:
    if args.worker == "console":
        result = asyncio.run(worker_console(args.inventory, args.refreshes, args.interval))
    elif args.worker == "bare":
        result = asyncio.run(worker_bare(args.inventory, args.refreshes))
    else:
        result = asyncio.run(worker_check(args.inventory, args.check_timeout))
    print("RESULT " + json.dumps(result), flush=True)


# --- the parent: hosts, workers, the other tools, the table ------------------------------------------------


def run_worker(fleet: Any, kind: str, inventory: Path, args: argparse.Namespace) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--worker", kind, "--inventory", str(inventory),
            "--refreshes", str(args.refreshes), "--interval", str(args.interval),
            "--check-timeout", str(args.check_timeout)]  # fmt: skip
    process = subprocess.Popen(
        fleet.hub_argv(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert process.stdin is not None
    assert process.stdout is not None
    marks: dict[str, int] = {}
    result: dict[str, Any] = {}
    try:
        for line in process.stdout:
            if line.startswith("MARK "):
                marks[line.split()[1]] = fleet.spawned()
                process.stdin.write("ok\n")
                process.stdin.flush()
            elif line.startswith("RESULT "):
                result = json.loads(line[len("RESULT ") :])
        process.wait(timeout=WORKER_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if process.returncode != 0 or not result:
        raise SystemExit(f"worker {kind} failed (exit {process.returncode})")
    nodes = len(fleet.hosts)
    if "cold-end" in marks:
        result["cold_procs"] = (marks["cold-end"] - marks["cold-start"]) / nodes
        result["warm_procs"] = (marks["warm-end"] - marks["warm-start"]) / (nodes * args.refreshes)
    if "slow-end" in marks:
        result["slow_procs"] = (marks["slow-end"] - marks["slow-start"]) / nodes
    return result


def _timed_children(argv: list[str], **kwargs: Any) -> tuple[subprocess.CompletedProcess[str], float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        argv, capture_output=True, text=True, check=False, timeout=WORKER_TIMEOUT_S, **kwargs
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return done, wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def openssh_sweep(fleet: Any, parallel: int) -> dict[str, Any]:
    lab = fleet.lab
    argv = ["xargs", "-P", str(parallel), "-I{}", "ssh", "-F", "/dev/null", "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes", "-o", f"UserKnownHostsFile={fleet.known_hosts_path}",
            "-o", "StrictHostKeyChecking=yes", "-i", str(lab.client_key_path), "-l", lab.user,
            "{}", QUERY_COMMAND]  # fmt: skip
    before = fleet.spawned()
    hosts = "".join(host.host + "\n" for host in fleet.hosts)
    done, wall, cpu = _timed_children(fleet.hub_argv(argv), input=hosts)
    rows = [line for line in done.stdout.splitlines() if line.count(",") > 10]
    return {
        "cold_wall": wall,
        "cold_cpu": cpu,
        "complete": len(rows),
        "cold_procs": (fleet.spawned() - before) / len(fleet.hosts),
    }


def ensure_ansible(install: bool) -> Path | None:
    ansible = ANSIBLE_VENV / "bin" / "ansible"
    if ansible.exists() or not install:
        return ansible if ansible.exists() else None
    print(f"installing ansible-core into {ANSIBLE_VENV} (pip, once)...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(ANSIBLE_VENV)], check=True)
    subprocess.run([str(ANSIBLE_VENV / "bin" / "pip"), "install", "-q", "ansible-core"], check=True)
    return ansible


def ansible_sweep(fleet: Any, ansible: Path, parallel: int, work: Path) -> dict[str, Any]:
    lab = fleet.lab
    inventory = work / "ansible.ini"
    ssh_args = f"-F /dev/null -o IdentitiesOnly=yes -o UserKnownHostsFile={fleet.known_hosts_path}"
    lines = ["[fleet]", *(f"{host.name} ansible_host={host.host}" for host in fleet.hosts), "[fleet:vars]",
             f"ansible_user={lab.user}", f"ansible_ssh_private_key_file={lab.client_key_path}",
             f"ansible_ssh_common_args='{ssh_args}'"]  # fmt: skip
    inventory.write_text("\n".join(lines) + "\n")
    env = dict(os.environ, ANSIBLE_SSH_ARGS="-o ControlMaster=no", ANSIBLE_HOST_KEY_CHECKING="True",
               ANSIBLE_LOCAL_TEMP=str(work / "ansible-tmp"), ANSIBLE_NOCOLOR="1")  # fmt: skip
    argv = [
        str(ansible),
        "all",
        "-i",
        str(inventory),
        "-m",
        "raw",
        "-a",
        QUERY_COMMAND,
        "-f",
        str(parallel),
        "-o",
    ]
    before = fleet.spawned()
    done, wall, cpu = _timed_children(fleet.hub_argv(argv), env=env)
    complete = sum(1 for line in done.stdout.splitlines() if "rc=0" in line)
    return {
        "cold_wall": wall,
        "cold_cpu": cpu,
        "complete": complete,
        "cold_procs": (fleet.spawned() - before) / len(fleet.hosts),
    }


def check_cli(fleet: Any, inventory: Path, timeout: float) -> dict[str, Any]:
    argv = [
        sys.executable,
        "-m",
        "console",
        "-i",
        str(inventory),
        "--check",
        "--format",
        "json",
        "--timeout",
        str(timeout),
    ]
    done, wall, cpu = _timed_children(fleet.hub_argv(argv), cwd=ROOT)
    try:
        report = json.loads(done.stdout)
    except ValueError:
        return {"wall": wall, "cpu": cpu, "exit": done.returncode, "nodes": 0, "gpu_ok": 0, "timed_out": 0}
    return {"wall": wall, "cpu": cpu, "exit": done.returncode, **_results(report["results"])}


def measure(
    lab: Any, size: int, args: argparse.Namespace, ansible: Path | None, work: Path
) -> dict[str, Any]:
    from tests.lab.netns import NetnsFleet

    started = time.perf_counter()
    with NetnsFleet(lab, size) as fleet:
        setup = time.perf_counter() - started
        inventory = work / f"fleet-{size}.yaml"
        inventory.write_text(fleet.inventory_yaml(refresh=args.interval))
        parallel = min(size, args.parallel)
        row: dict[str, Any] = {"size": size, "setup_s": setup, "parallel": parallel}
        # A first bare sweep warms ARP, the page cache and the sshd binaries for everyone; not reported.
        run_worker(fleet, "bare", inventory, argparse.Namespace(**{**vars(args), "refreshes": 1}))
        row["console"] = run_worker(fleet, "console", inventory, args)
        row["bare"] = run_worker(fleet, "bare", inventory, args)
        row["openssh"] = openssh_sweep(fleet, parallel)
        row["ansible"] = ansible_sweep(fleet, ansible, parallel, work) if ansible else None
        row["check_cli"] = check_cli(fleet, inventory, args.check_timeout)
        row["check_streaming"] = run_worker(fleet, "check", inventory, args)
    return row


def _f(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


CLIENTS = (
    ("console", "opsconsole streams"),
    ("bare", "bare asyncssh connect + 1 cmd"),
    ("openssh", "OpenSSH xargs -P {parallel}"),
    ("ansible", "ansible-core -m raw -f {parallel}"),
)


def _ratio(a: dict[str, Any] | None, b: dict[str, Any] | None, key: str) -> str:
    return f"{a[key] / b[key]:.2f}×" if a and b and b[key] else "—"


def table(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    out = [
        f"Warm: {args.refreshes} refreshes every {args.interval:g}s (poll + evaluate every node). procs = "
        "processes started on the hosts per node (cold: per sweep; warm: per refresh).",
        "",
        "| N | client | cold wall s | cold CPU s | warm CPU ms/node/refresh | cold procs/node "
        "| warm procs/node | RSS MB | complete |",
        "|" + "---|" * 9,
    ]
    for row in rows:
        n = row["size"]
        for key, label in CLIENTS:
            label = label.format(parallel=row["parallel"])
            data = row.get(key)
            if not data:
                out.append(f"| {n} | {label} | not run | | | | | | |")
                continue
            cells = [
                _f(data["cold_wall"]),
                _f(data["cold_cpu"]),
                _f(data.get("warm_cpu_ms"), 3),
                _f(data.get("cold_procs"), 1),
                _f(data.get("warm_procs"), 2),
                _f(data.get("rss_mb"), 0),
                f"{data['complete']}/{n}",
            ]
            out.append(f"| {n} | {label} | " + " | ".join(cells) + " |")
    out += [
        "",
        "| N | console/bare wall | console/bare CPU | OpenSSH/console wall | OpenSSH/console CPU "
        "| ansible/console wall | ansible/console CPU |",
        "|" + "---|" * 7,
    ]
    for row in rows:
        console, bare, openssh, ansible = row["console"], row["bare"], row["openssh"], row.get("ansible")
        cells = [
            _ratio(console, bare, "cold_wall"),
            _ratio(console, bare, "cold_cpu"),
            _ratio(openssh, console, "cold_wall"),
            _ratio(openssh, console, "cold_cpu"),
            _ratio(ansible, console, "cold_wall"),
            _ratio(ansible, console, "cold_cpu"),
        ]
        out.append(f"| {row['size']} | " + " | ".join(cells) + " |")
    out += [
        "",
        "| N | --check | wall s | CPU s | nodes with results | gpu.present OK | timed out | exit |",
        "|" + "---|" * 8,
    ]
    for row in rows:
        for key, label in (("check_cli", "CLI (as wired)"), ("check_streaming", "StreamingSource(one_shot)")):
            data = row[key]
            cells = [
                _f(data["wall"]),
                _f(data["cpu"]),
                f"{data['nodes']}/{row['size']}",
                str(data["gpu_ok"]),
                str(data["timed_out"]),
                str(data.get("exit", "—")),
            ]
            out.append(f"| {row['size']} | {label} | " + " | ".join(cells) + " |")
    out += ["", "Host setup: " + ", ".join(f"N={row['size']} {row['setup_s']:.1f}s" for row in rows)]
    slow = ", ".join(f"N={row['size']} {_f(row['console'].get('slow_procs'), 1)}" for row in rows)
    out += [
        f"opsconsole background reads (disk use every 60 s + GPU processes every 30 s), procs/node: {slow}"
    ]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="20,100,300", help="comma-separated host counts")
    parser.add_argument("--smoke", action="store_true", help="N=3, short: a CI-sized run")
    parser.add_argument("--refreshes", type=int, default=5)
    parser.add_argument("--interval", type=float, default=2.0, help="refresh interval (and GPU sampling), s")
    parser.add_argument("--parallel", type=int, default=50, help="OpenSSH xargs -P / ansible -f")
    parser.add_argument("--check-timeout", type=float, default=60.0)
    parser.add_argument("--no-ansible", action="store_true")
    parser.add_argument("--json", metavar="FILE", help="also write the raw figures here")
    parser.add_argument("--worker", choices=("console", "bare", "check"), help=argparse.SUPPRESS)
    parser.add_argument("--inventory", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_worker_main(args)
        return
    if os.geteuid() != 0:
        raise SystemExit("run as root: the benchmark creates network namespaces and a test user")
    sizes = [3] if args.smoke else [int(size) for size in args.sizes.split(",")]
    if args.smoke:
        args.refreshes, args.interval, args.check_timeout = 2, 0.5, 30.0
    ansible = None if args.no_ansible else ensure_ansible(install=not args.smoke)
    from tests.lab.sshd import SshLab

    work = Path(tempfile.mkdtemp(prefix="opsconsole-bench-"))
    rows = []
    try:
        with SshLab(work / "lab") as lab:
            for size in sizes:
                print(f"N={size}...", file=sys.stderr, flush=True)
                rows.append(measure(lab, size, args, ansible, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(table(rows, args))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
