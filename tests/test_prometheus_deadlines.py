"""Deadlines that hold against a Prometheus that misbehaves: real HTTP servers on 127.0.0.1, the real CLI.

Each server accepts on loopback and then does what a wedged or hostile Prometheus (or what sits in front of
it) can do: never answer, answer one byte every two seconds, or stream a body that never ends. A per-read
timeout stops none of them; `--check --timeout 4` must still end in time, in bounded memory, with the other
nodes' results kept and Prometheus's checks saying what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest

from console.checkmode import MIN_RUN_S, CheckOptions
from console.collectors.prometheus import (
    MAX_RESPONSE_BYTES,
    PrometheusClient,
    PrometheusError,
    PrometheusUnreachable,
)
from tests.lab.sshd import LabNode, SshLab

ROOT = Path(__file__).resolve().parent.parent
Mode = Literal["silent", "trickle", "endless"]
TIMEOUT_S = 4
SLACK_S = 3  # "ends by N plus a small constant": interpreter start, SSH connect, rendering
RSS_LIMIT_KB = 512 * 1024


class MisbehavingHttp:
    """An HTTP server on 127.0.0.1 that never gives a usable answer, in one of three ways.

    silent: accepts and never sends a byte. trickle: sends a valid-looking answer one byte every
    `trickle_every` seconds. endless: sends 200 headers, then a JSON body as fast as the socket takes it,
    forever.
    """

    def __init__(self, mode: Mode, *, trickle_every: float = 2.0) -> None:
        self.mode = mode
        self.trickle_every = trickle_every
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.1)
        self.port: int = self._server.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True, name=f"bad-http-{mode}")
        self._accepting.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            conn.settimeout(1.0)
            with contextlib.suppress(TimeoutError):
                conn.recv(65536)  # the request; what it asks does not matter
            if self.mode == "silent":
                self._stop.wait()
            elif self.mode == "trickle":
                body = b'{"status":"success","data":{"activeTargets":[],"alerts":[]}}'
                answer = (
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                    % (
                        len(body),
                        body,
                    )
                )
                for index in range(len(answer)):
                    conn.sendall(answer[index : index + 1])
                    if self._stop.wait(self.trickle_every):
                        return
            else:
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
                )
                conn.sendall(b'{"status":"success","data":{"activeTargets":[')
                chunk = b'{"labels":{"job":"x","instance":"y"},"health":"up"},' * 1300  # ~64 KiB
                while not self._stop.is_set():
                    conn.sendall(chunk)

    def close(self) -> None:
        self._stop.set()
        self._server.close()
        self._accepting.join(timeout=2)
        for thread in self._threads:
            thread.join(timeout=2)


@pytest.fixture(params=["silent", "trickle", "endless"])
def bad_prometheus(request: pytest.FixtureRequest) -> Iterator[MisbehavingHttp]:
    server = MisbehavingHttp(request.param)
    try:
        yield server
    finally:
        server.close()


def run_measured(args: list[str], *, kill_after: float) -> tuple[int, str, str, float, int]:
    """Run the CLI; (exit code, stdout, stderr, wall seconds, max RSS in KiB) of that one process."""
    with open(os.devnull, "rb") as stdin, tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        process = subprocess.Popen(args, cwd=ROOT, stdin=stdin, stdout=out, stderr=err)
        killer = threading.Timer(kill_after, process.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            killer.cancel()
        wall = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return process.returncode, out.read().decode(), err.read().decode(), wall, usage.ru_maxrss


def inventory_with(
    ssh_lab: SshLab, node: LabNode, url: str, tmp_path: Path, *, via: bool, timeout: float = 30
) -> Path:
    """gpu1 plus the fleet's Prometheus at `url`: directly, or through gpu1's SSH connection (`via`)."""
    text = ssh_lab.inventory_yaml([node])
    route = ", via: gpu1" if via else ""
    text = text.replace("nodes:\n", f"prometheus: {{url: '{url}'{route}, timeout: {timeout}}}\nnodes:\n", 1)
    path = tmp_path / "lab.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("via", [False, True], ids=["direct", "via-gpu1"])
def test_check_timeout_holds_against_a_misbehaving_prometheus(
    ssh_lab: SshLab, gpu_node: LabNode, bad_prometheus: MisbehavingHttp, via: bool, tmp_path: Path
) -> None:
    # Prometheus's own timeout (30 s) is far past the run's: only the run's deadline can end it.
    inventory = inventory_with(ssh_lab, gpu_node, bad_prometheus.url, tmp_path, via=via)
    args = [sys.executable, "-m", "console", "-i", str(inventory), "--check", "--format", "json"]
    code, out, err, wall, max_rss_kb = run_measured([*args, "--timeout", str(TIMEOUT_S)], kill_after=60)
    print(f"{bad_prometheus.mode}: {wall:.2f}s wall, max RSS {max_rss_kb / 1024:.0f} MiB, exit {code}")
    assert out.startswith("{"), (out, err)
    report = json.loads(out)
    assert wall < TIMEOUT_S + SLACK_S, f"{bad_prometheus.mode}: ran {wall:.1f}s"
    assert max_rss_kb < RSS_LIMIT_KB, f"{bad_prometheus.mode}: max RSS {max_rss_kb / 1024:.0f} MiB"
    assert bad_prometheus.connections >= 1, report  # the requests reached the server (through gpu1's tunnel)
    assert err == ""
    results = {(r["node"], r["check"]): r for r in report["results"]}
    prometheus = {check: r for (_, check), r in results.items() if check.startswith("prometheus.")}
    assert set(prometheus) == {"prometheus.targets", "prometheus.alerts"}
    assert {r["status"] for r in prometheus.values()} <= {"unknown", "critical"}
    # gpu1 answered in time: its results stand, none of them "timed out".
    reachable = results[("gpu1", "ssh.reachable")]
    assert reachable["status"] == "ok", report
    gpu = [r for (node, check), r in results.items() if node == "gpu1" and check.startswith("gpu.")]
    assert gpu
    assert all("timed out" not in r["summary"] for r in gpu), gpu
    assert code in (2, 3)


async def test_the_client_deadline_covers_the_whole_exchange(bad_prometheus: MisbehavingHttp) -> None:
    # A 1 s client timeout, whatever the server does: one deadline for connect, headers and body.
    started = time.monotonic()
    with PrometheusClient(bad_prometheus.url, timeout=1.0) as prom, pytest.raises(PrometheusError) as caught:
        await prom.targets()
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, elapsed
    if bad_prometheus.mode == "endless":
        # Over loopback the cap is hit long before the deadline: refused for its size.
        assert str(caught.value) == (
            f"Prometheus at {bad_prometheus.url} sent more than {MAX_RESPONSE_BYTES // 2**20} MiB: refused"
        )
    else:
        assert isinstance(caught.value, PrometheusUnreachable)
        assert str(caught.value) == f"Prometheus at {bad_prometheus.url} unreachable: no answer within 1s"


async def test_a_request_in_flight_is_cancelled_at_once(bad_prometheus: MisbehavingHttp) -> None:
    # Quitting the TUI cancels the request: nothing waits for a thread or the server. (No size cap here, so
    # the endless answer is still being read when the cancel comes.)
    with PrometheusClient(bad_prometheus.url, timeout=30.0, max_bytes=2**40) as prom:
        task = asyncio.create_task(prom.alerts())
        await asyncio.sleep(0.3)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - started < 0.5


NO_THREAD_HOLDS_SCRIPT = """
import asyncio, time
from console.checkmode import run_bounded

async def main() -> str:
    # A blocking call that cannot be cancelled (a statfs on a hung mount, a DNS lookup that never returns),
    # given up on after 0.5 s as a deadline would.
    try:
        await asyncio.wait_for(asyncio.to_thread(time.sleep, 60), 0.5)
    except TimeoutError:
        return "gave up"
    return "slept"

print(run_bounded(main()), flush=True)
"""


def test_no_thread_left_behind_holds_the_process() -> None:
    # asyncio.run() would join the sleeping thread at its end, and the interpreter again at exit: 60 s.
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", NO_THREAD_HOLDS_SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=90
    )
    wall = time.monotonic() - started
    assert (done.returncode, done.stdout, done.stderr) == (0, "gave up\n", "")
    assert wall < 0.5 + SLACK_S


def test_the_run_gets_what_start_up_left_of_the_timeout() -> None:
    """--timeout counts from the process start: imports on a loaded machine come out of the run's time."""
    now = time.monotonic()
    assert CheckOptions(timeout=4.0).remaining() == 4.0  # no start known (called as a library)
    assert 0.9 < CheckOptions(timeout=4.0, started=now - 3.0).remaining() <= 1.0
    assert CheckOptions(timeout=4.0, started=now - 60.0).remaining() == MIN_RUN_S
