"""`opsconsole --check` and `inventory check` end to end: a real process, real sshd nodes, no TTY."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from console.checks.lock import lock_path
from tests.lab.sshd import LabNode, SshLab

ROOT = Path(__file__).resolve().parent.parent


def opsconsole(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )


def check_json(inventory: Path, *args: str) -> tuple[int, dict[str, Any]]:
    done = opsconsole("-i", str(inventory), "--check", "--format", "json", *args)
    assert done.stderr == "", done.stderr
    return done.returncode, json.loads(done.stdout)


def results_of(report: dict[str, Any], node: str) -> dict[str, dict[str, Any]]:
    return {r["check"]: r for r in report["results"] if r["node"] == node}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lab.yaml"
    path.write_text(text)
    return path


def test_check_json_end_to_end_over_ssh(ssh_lab: SshLab, gpu_node: LabNode, tmp_path: Path) -> None:
    # gpu1's nvidia-smi replays a real H100 capture: the one stand-in, as no GPU exists on test machines.
    inventory = write(
        tmp_path, ssh_lab.inventory_yaml([gpu_node], gpus={"gpu1": {"count": 1, "model": "H100"}})
    )
    code, report = check_json(inventory)
    assert (code, report["status"], report["exit_code"], report["inventory"]) == (0, "ok", 0, "lab")
    results = results_of(report, "gpu1")
    assert list(results) == [
        "ssh.reachable",
        "gpu.present",
        "gpu.count",
        "gpu.model",
        "gpu.temperature",
        "gpu.ecc",
    ]
    assert results["gpu.present"]["summary"].startswith("1 GPU: NVIDIA H100 80GB HBM3 (driver 580.159.04)")
    assert results["gpu.temperature"]["perfdata"] == {"gpu0_temp": 42.0}
    assert set(results["gpu.count"]) >= {"node", "check", "target", "status", "summary", "fix"}
    assert isinstance(report["duration_s"], float)


def test_inventory_mismatch_is_critical(ssh_lab: SshLab, gpu_node: LabNode, tmp_path: Path) -> None:
    inventory = write(
        tmp_path, ssh_lab.inventory_yaml([gpu_node], gpus={"gpu1": {"count": 2, "model": "A100"}})
    )
    code, report = check_json(inventory)
    assert code == 2
    assert report["status"] == "critical"
    results = results_of(report, "gpu1")
    assert results["gpu.count"]["summary"] == "1 GPU found, inventory expects 2"
    assert results["gpu.model"]["status"] == "critical"


def test_unreachable_node_does_not_hold_up_the_live_one(
    ssh_lab: SshLab, gpu_node: LabNode, plain_node: LabNode, tmp_path: Path
) -> None:
    silent, dead = ssh_lab.silent_port(), ssh_lab.dead_port()
    extra = (
        f"  hung:\n    host: 127.0.0.1\n    ssh: {{port: {silent}, connect_timeout: 2}}\n"
        f"  gone:\n    host: 127.0.0.1\n    ssh: {{port: {dead}}}\n"
    )
    inventory = write(tmp_path, ssh_lab.inventory_yaml([gpu_node, plain_node], extra_nodes=extra))
    code, report = check_json(inventory, "--timeout", "30")
    assert code == 2
    assert results_of(report, "hung")["ssh.reachable"]["summary"].endswith("connect timed out after 2s")
    assert results_of(report, "gone")["ssh.reachable"]["summary"].endswith("connection refused")
    # One critical names the cause; the checks that needed the connection are skipped, not unknown.
    gone = results_of(report, "gone")
    assert {(r["status"], r["summary"]) for check, r in gone.items() if check != "ssh.reachable"} == {
        ("skipped", "node unreachable (see ssh.reachable)")
    }
    assert results_of(report, "gpu1")["gpu.present"]["status"] == "ok"
    assert results_of(report, "plain1")["gpu.present"]["summary"].startswith("no GPU tooling")
    assert report["duration_s"] < 30  # the hung node was given up at its connect timeout, not the run's


def test_run_timeout_bounds_a_frozen_node(ssh_lab: SshLab, gpu_node: LabNode, tmp_path: Path) -> None:
    frozen = ssh_lab.start_node("frozen", gpu_capture="idle")
    try:
        frozen.freeze()
        inventory = write(tmp_path, ssh_lab.inventory_yaml([gpu_node, frozen], connect_timeout=30))
        code, report = check_json(inventory, "--timeout", "2")
    finally:
        frozen.thaw()
        frozen.stop()
    assert code == 3
    assert {r["summary"] for r in results_of(report, "frozen").values()} == {"timed out after 2s"}
    assert results_of(report, "gpu1")["gpu.present"]["status"] == "ok"
    assert report["duration_s"] <= 2 + 1  # the run's own deadline held (not a speed figure)


def test_wrong_host_key_is_reported_per_node(ssh_lab: SshLab, gpu_node: LabNode, tmp_path: Path) -> None:
    known_hosts = ssh_lab.write_known_hosts(tmp_path / "kh", [gpu_node], wrong_for=[gpu_node])
    inventory = write(tmp_path, ssh_lab.inventory_yaml([gpu_node], known_hosts=known_hosts))
    code, report = check_json(inventory)
    assert code == 2
    assert "host key does NOT match" in results_of(report, "gpu1")["ssh.reachable"]["summary"]


def test_node_selection(ssh_lab: SshLab, gpu_node: LabNode, plain_node: LabNode, tmp_path: Path) -> None:
    inventory = write(tmp_path, ssh_lab.inventory_yaml([gpu_node, plain_node]))
    _, report = check_json(inventory, "--node", "plain1")
    assert {r["node"] for r in report["results"]} == {"plain1"}
    done = opsconsole("-i", str(inventory), "--check", "--node", "nosuch")
    assert done.returncode == 3
    assert "unknown node nosuch" in done.stderr
    assert "Traceback" not in done.stderr


def test_text_format_is_grouped_and_plain_without_a_tty(
    ssh_lab: SshLab, gpu_node: LabNode, tmp_path: Path
) -> None:
    inventory = write(tmp_path, ssh_lab.inventory_yaml([gpu_node]))
    done = opsconsole("-i", str(inventory), "--check")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("OK lab:")
    assert "gpu1" in lines
    assert "\x1b[" not in done.stdout


def test_malformed_inventory_names_file_line_and_key_without_traceback(tmp_path: Path) -> None:
    inventory = write(
        tmp_path,
        "version: 1\nname: lab\nnodes:\n  gpu1:\n    host: 127.0.0.1\n    ssh: {prot: 22}\n",
    )
    done = opsconsole("-i", str(inventory), "--check", "--format", "json")
    assert done.returncode == 3
    assert done.stdout == ""
    assert f"{inventory}:6: nodes.gpu1.ssh.prot: unknown key" in done.stderr
    assert "Traceback" not in done.stderr


def test_inventory_check_command(tmp_path: Path) -> None:
    bad = write(tmp_path, "version: 1\nnodes:\n  a:\n    host: x\n    transport: telnet\n")
    done = opsconsole("inventory", "check", str(bad))
    assert done.returncode == 1
    assert f"{bad}:5: nodes.a.transport:" in done.stderr
    good = opsconsole("inventory", "check", str(ROOT / "inventories" / "pantheon.yaml"))
    assert good.returncode == 0, good.stderr
    assert "ok" in good.stdout
    assert "pantheon" in good.stdout


def test_bundled_local_inventory_check_runs_without_config() -> None:
    done = opsconsole("--check", "--format", "json")
    assert done.returncode in (0, 3), done.stderr
    report = json.loads(done.stdout)
    assert report["inventory"] == "local"
    present = next(r for r in report["results"] if r["check"] == "gpu.present")
    if present["status"] == "ok" and "GPU tooling" in present["summary"]:
        assert "nvidia-smi not found" in present["summary"]  # this machine has no GPU tooling


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help(flag: str) -> None:
    done = opsconsole(flag)
    assert done.returncode == 0
    assert "opsconsole" in done.stdout


def test_quiet_prints_nothing_when_ok_and_everything_when_not(
    ssh_lab: SshLab, gpu_node: LabNode, tmp_path: Path
) -> None:
    ok = write(tmp_path, ssh_lab.inventory_yaml([gpu_node]))
    done = opsconsole("-i", str(ok), "--check", "--quiet")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    bad = tmp_path / "bad.yaml"
    bad.write_text(ssh_lab.inventory_yaml([gpu_node], gpus={"gpu1": {"count": 4}}))
    done = opsconsole("-i", str(bad), "--check", "--quiet")
    assert done.returncode == 2
    assert "1 GPU found, inventory expects 4" in done.stdout


def test_nagios_and_prometheus_outputs_end_to_end(ssh_lab: SshLab, gpu_node: LabNode, tmp_path: Path) -> None:
    inventory = write(tmp_path, ssh_lab.inventory_yaml([gpu_node], gpus={"gpu1": {"count": 2}}))
    nagios = opsconsole("-i", str(inventory), "--check", "--format", "nagios")
    assert nagios.returncode == 2
    assert nagios.stdout.startswith("OPSCONSOLE CRITICAL - 1 critical | ")
    assert "gpu1_gpu0_temp=42;85;95" in nagios.stdout.splitlines()[0]
    textfile = tmp_path / "opsconsole.prom"
    done = opsconsole("-i", str(inventory), "--check", "--format", "prometheus", "--output", str(textfile))
    assert (done.returncode, done.stdout) == (2, "")
    text = textfile.read_text()
    assert 'opsconsole_check_status{inventory="lab",node="gpu1",check="gpu.count",target=""} 2' in text
    promtool = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert promtool.returncode == 0, promtool.stdout + promtool.stderr


def test_group_selection(ssh_lab: SshLab, gpu_node: LabNode, plain_node: LabNode, tmp_path: Path) -> None:
    text = ssh_lab.inventory_yaml([gpu_node, plain_node]).replace(
        "  plain1:\n", "  plain1:\n    groups: [storage]\n"
    )
    inventory = write(tmp_path, text)
    _, report = check_json(inventory, "--group", "storage")
    assert {r["node"] for r in report["results"]} == {"plain1"}
    done = opsconsole("-i", str(inventory), "--check", "--group", "nosuch")
    assert done.returncode == 3
    assert "unknown group nosuch" in done.stderr


def test_overlapping_runs_are_refused_or_wait(ssh_lab: SshLab, tmp_path: Path) -> None:
    frozen = ssh_lab.start_node("slow", gpu_capture=None)
    inventory = write(tmp_path, ssh_lab.inventory_yaml([frozen], connect_timeout=30))
    frozen.freeze()
    try:
        first = subprocess.Popen(
            [sys.executable, "-m", "console", "-i", str(inventory), "--check", "--timeout", "4"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        lock = lock_path(str(inventory))
        for _ in range(200):  # until the first run holds the lock (its pid is written into the file)
            if lock.exists() and lock.read_text() == str(first.pid):
                break
            time.sleep(0.05)
        second = opsconsole("-i", str(inventory), "--check", "--timeout", "1")
        assert second.returncode == 3
        assert "another opsconsole --check is running" in second.stderr, second.stderr
        waiter = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "console",
                "-i",
                str(inventory),
                "--check",
                "--wait-lock",
                "--format",
                "json",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        first.communicate(timeout=30)
        assert first.returncode == 3  # its only node was frozen: timed out
        frozen.thaw()  # the waiting run can only have started after this, or it would have timed out too
        out, err = waiter.communicate(timeout=60)
        assert waiter.returncode == 0, out + err
        assert json.loads(out)["status"] == "ok"
    finally:
        frozen.thaw()
        frozen.stop()


def test_down_node_is_one_critical_in_text_and_nagios(
    ssh_lab: SshLab, gpu_node: LabNode, tmp_path: Path
) -> None:
    extra = f"  gone:\n    host: 127.0.0.1\n    ssh: {{port: {ssh_lab.dead_port()}}}\n"
    inventory = write(tmp_path, ssh_lab.inventory_yaml([gpu_node], extra_nodes=extra))
    done = opsconsole("-i", str(inventory), "--check")
    assert (done.returncode, done.stderr) == (2, "")
    lines = done.stdout.splitlines()
    # Before: "CRITICAL lab: 7 ok, 1 critical, 4 unknown" and an "unknown ... node unreachable" row per check.
    assert re.fullmatch(r"CRITICAL lab: \d+ ok, 1 critical \(\d+\.\d\ds\)", lines[0]), lines[0]
    gone = lines[lines.index("gone") + 1 : lines.index("gone") + 3]
    assert gone[0].startswith("  CRITICAL ssh.reachable")
    assert gone[1] == (
        "  SKIPPED  gpu.present, gpu.temperature, gpu.ecc: node unreachable (see ssh.reachable)"
    )
    nagios = opsconsole("-i", str(inventory), "--check", "--format", "nagios")
    assert nagios.stdout.startswith("OPSCONSOLE CRITICAL - 1 critical | ")
    assert re.search(r"^\[OK\] gpu1 ssh.reachable: connected in \d+\.\d\ds", nagios.stdout, re.MULTILINE)
