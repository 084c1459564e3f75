"""A real Prometheus (Debian's) scraping the synthetic fleet exporter (tests/lab/fleet_exporter.py): N nodes'
node_exporter, DCGM and cAdvisor series, each with its own `instance` (`honor_labels: true`).

One alerting rule fires for node 2 only (its ALERTS series carry node 2's `instance`). Readiness is
polled, never slept: `start()` returns once `count(node_load1)` is N, the CPU rate has two samples for every
fresh node and the alert fires.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tests.lab.common import LAB_HOST, LabError
from tests.lab.fleet_exporter import node_name
from tests.lab.network import _free_port
from tests.lab.processes import _kill_parent_death_signal

PROMETHEUS = "/usr/bin/prometheus"
REPO = Path(__file__).resolve().parents[2]
ALERT = "LabNodeAlert"


class PromFleetLab:
    def __init__(
        self, workdir: Path, nodes: int, *, scrape_interval_s: float = 1.0, ready_timeout_s: float = 60.0
    ):
        if shutil.which(PROMETHEUS) is None:
            raise LabError(f"{PROMETHEUS} not found: install Debian's prometheus package")
        self.workdir = workdir
        self.nodes = nodes
        self.interval = scrape_interval_s
        self.ready_timeout_s = ready_timeout_s
        self.port = 0
        self.exporter_port = 0
        self.exporter: subprocess.Popen[str] | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.ready_s: float | None = None
        self.log_path = workdir / "prometheus.log"

    @property
    def url(self) -> str:
        return f"http://{LAB_HOST}:{self.port}"

    def _config(self) -> str:
        interval = f"{self.interval:g}s"
        timeout = f"{min(self.interval, 10.0):g}s"
        rules = self.workdir / "fleet-rules.yml"
        rules.write_text(
            "groups:\n  - name: fleet\n    interval: 1s\n    rules:\n"
            f'      - alert: {ALERT}\n        expr: node_load1{{instance="{node_name(2)}:9100"}} > 0\n'
            "        labels: {severity: warning}\n",
            encoding="utf-8",
        )
        return (
            f"global: {{scrape_interval: {interval}, scrape_timeout: {timeout}, evaluation_interval: 1s}}\n"
            f'rule_files: ["{rules}"]\n'
            "scrape_configs:\n"
            "  - job_name: fleet\n    honor_labels: true\n"
            f'    static_configs: [{{targets: ["{LAB_HOST}:{self.exporter_port}"]}}]\n'
        )

    def start(self) -> None:
        try:
            self._start_exporter()
            config = self.workdir / "prometheus.yml"
            config.write_text(self._config(), encoding="utf-8")
            self._spawn(config)
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _start_exporter(self) -> None:
        self.exporter_port = _free_port()
        self.exporter = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.lab.fleet_exporter",
                "--nodes",
                str(self.nodes),
                "--port",
                str(self.exporter_port),
            ],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
            preexec_fn=_kill_parent_death_signal
            if threading.current_thread() is threading.main_thread()
            else None,
        )
        assert self.exporter.stdout is not None
        if self.exporter.stdout.readline().strip() != "ready":
            raise LabError("the fleet exporter did not start")

    def _spawn(self, config: Path) -> None:
        self.port = _free_port()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    PROMETHEUS,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address={LAB_HOST}:{self.port}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                preexec_fn=_kill_parent_death_signal
                if threading.current_thread() is threading.main_thread()
                else None,
            )
        self.started = time.monotonic()

    def query(self, promql: str) -> list[Any]:
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        with urllib.request.urlopen(url, timeout=5.0) as response:
            return list(json.load(response)["data"]["result"])

    def _count(self, promql: str) -> int:
        result = self.query(promql)
        return int(float(result[0]["value"][1])) if result else 0

    def _wait_ready(self) -> None:
        deadline = self.started + self.ready_timeout_s
        fresh = self.nodes - 1 if self.nodes > 1 else self.nodes
        state = "no answer"
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise LabError(f"prometheus exited with {self.process.returncode}: {self._log_tail()}")
            with contextlib.suppress(OSError, ValueError, KeyError, IndexError):
                loads = self._count("count(node_load1)")
                rates = self._count(
                    'count(count by (instance) (rate(node_cpu_seconds_total{mode="idle"}[1m])))'
                )
                alert = (
                    self._count(f'count(ALERTS{{alertname="{ALERT}",alertstate="firing"}})')
                    if self.nodes > 2
                    else 1
                )
                state = f"{loads} nodes, {rates} rates, alert {alert}"
                if loads >= self.nodes and rates >= fresh and alert:
                    self.ready_s = time.monotonic() - self.started
                    return
            time.sleep(0.2)
        raise LabError(f"fleet Prometheus not ready within {self.ready_timeout_s:g}s: {state}")

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return " ".join(self.log_path.read_text(errors="replace").splitlines()[-5:])[-800:]
        return "no log"

    def stop(self) -> None:
        for process in (self.process, self.exporter):
            if process is None or process.poll() is not None:
                continue
            process.terminate()
            try:
                process.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5.0)
        if self.exporter is not None and self.exporter.stdin is not None:
            with contextlib.suppress(OSError):
                self.exporter.stdin.close()
            if self.exporter.stdout is not None:
                self.exporter.stdout.close()
        self.process = self.exporter = None

    def __enter__(self) -> PromFleetLab:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
