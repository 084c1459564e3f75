"""A real Prometheus (Debian's /usr/bin/prometheus) on 127.0.0.1 scraping the lab exporter every second.

Targets: job "dcgm" (the exporter's DCGM endpoint), job "gpu-simulator" (its simulator endpoint, relabelled
to instance "sim1.lab:9400" so its series belong to a node other than the 127.0.0.1 lab nodes) and job
"dead" (a loopback port that is bound but never listens, so every scrape is refused and no other process
can take the port meanwhile). Rules: LabAlwaysFiring (vector(1), severity critical, fires at the first
evaluation) and LabPending (vector(1) `for: 1h`, severity warning: pending for the whole session).

Readiness is polled, never slept: Prometheus answers at once but the first sample becomes queryable only
~5.5 s after start, so `start()` waits (deadline 30 s) until the DCGM and simulator series are queryable,
the dead target has been scraped (health "down") and the alert fires.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tests.lab.common import LAB_HOST, LabError
from tests.lab.exporter import LabExporter
from tests.lab.network import _free_port
from tests.lab.processes import _kill_parent_death_signal

PROMETHEUS = "/usr/bin/prometheus"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0
SIMULATOR_INSTANCE = "sim1.lab:9400"
ALWAYS_FIRING = "LabAlwaysFiring"
PENDING = "LabPending"

RULES = f"""\
groups:
  - name: opsconsole-lab
    interval: 1s
    rules:
      - alert: {ALWAYS_FIRING}
        expr: vector(1)
        labels: {{severity: critical}}
        annotations: {{summary: "always firing (test lab)", description: "vector(1) is always 1"}}
      - alert: {PENDING}
        expr: vector(1)
        for: 1h
        labels: {{severity: warning}}
        annotations: {{summary: "pending for an hour (test lab)"}}
"""


def _config(exporter: LabExporter, dead_port: int, rules: Path) -> str:
    return f"""\
global: {{scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}}
rule_files: ["{rules}"]
scrape_configs:
  - job_name: dcgm
    static_configs: [{{targets: ["{LAB_HOST}:{exporter.dcgm_port}"]}}]
  - job_name: gpu-simulator
    static_configs: [{{targets: ["{LAB_HOST}:{exporter.simulator_port}"]}}]
    relabel_configs: [{{target_label: instance, replacement: "{SIMULATOR_INSTANCE}"}}]
  - job_name: dead
    static_configs: [{{targets: ["{LAB_HOST}:{dead_port}"]}}]
"""


class PrometheusLab:
    """Exporter + Prometheus + a dead port; `start()` returns once everything the tests rely on is visible."""

    def __init__(self, workdir: Path) -> None:
        if shutil.which(PROMETHEUS) is None:
            raise LabError(f"{PROMETHEUS} not found: install Debian's prometheus package")
        self.workdir = workdir
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.exporter: LabExporter | None = None
        self.first_sample_s: float | None = None  # from process start to the first DCGM sample queryable
        self.ready_s: float | None = None  # ... to everything the tests need
        self._started = 0.0
        # Bound, never listening: connecting is refused, and nobody else gets the port while we hold it.
        self._dead = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._dead.bind((LAB_HOST, 0))
        self.dead_port: int = self._dead.getsockname()[1]
        self.log_path = workdir / "prometheus.log"

    @property
    def url(self) -> str:
        return f"http://{LAB_HOST}:{self.port}"

    def start(self) -> None:
        try:
            self.exporter = LabExporter()
            rules = self.workdir / "rules.yml"
            rules.write_text(RULES, encoding="utf-8")
            config = self.workdir / "prometheus.yml"
            config.write_text(_config(self.exporter, self.dead_port, rules), encoding="utf-8")
            self._spawn(config)
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _spawn(self, config: Path) -> None:
        for _attempt in range(3):  # the free port may be taken between probing and binding
            self.port = _free_port()
            storage = self.workdir / f"data-{self.port}"
            in_main_thread = threading.current_thread() is threading.main_thread()
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(
                    [
                        PROMETHEUS,
                        f"--config.file={config}",
                        f"--storage.tsdb.path={storage}",
                        f"--web.listen-address={LAB_HOST}:{self.port}",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                    preexec_fn=_kill_parent_death_signal if in_main_thread else None,
                )
            self._started = time.monotonic()
            if self._wait_listening():
                return
            self._terminate()
        raise LabError(f"prometheus did not start: {self._log_tail()}")

    def _wait_listening(self) -> bool:
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return False
            with contextlib.suppress(OSError), socket.create_connection((LAB_HOST, self.port), timeout=0.5):
                return True
            time.sleep(0.02)
        return False

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=2.0) as response:
            return json.load(response)["data"]

    def _ready_parts(self) -> dict[str, bool]:
        dcgm = self.api("/api/v1/query", query="DCGM_FI_DEV_GPU_UTIL")["result"]
        if dcgm and self.first_sample_s is None:
            self.first_sample_s = time.monotonic() - self._started
        simulator = self.api("/api/v1/query", query="gpu_utilization_percent")["result"]
        health = {t["labels"]["job"]: t["health"] for t in self.api("/api/v1/targets")["activeTargets"]}
        alerts = {(a["labels"]["alertname"], a["state"]) for a in self.api("/api/v1/alerts")["alerts"]}
        return {
            "dcgm series": len(dcgm) == 2,
            "simulator series": len(simulator) == 2,
            "targets scraped": health == {"dcgm": "up", "gpu-simulator": "up", "dead": "down"},
            "alerts evaluated": {(ALWAYS_FIRING, "firing"), (PENDING, "pending")} <= alerts,
        }

    def _wait_ready(self) -> None:
        deadline = self._started + READY_TIMEOUT_S
        parts: dict[str, bool] = {}
        last_error = ""
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise LabError(f"prometheus exited with {self.process.returncode}: {self._log_tail()}")
            try:
                parts = self._ready_parts()
            except (OSError, ValueError, KeyError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            else:
                if all(parts.values()):
                    self.ready_s = time.monotonic() - self._started
                    return
            time.sleep(0.1)
        missing = [name for name, ok in parts.items() if not ok] or [last_error or "no answer"]
        raise LabError(f"prometheus not ready within {READY_TIMEOUT_S:g}s: missing {', '.join(missing)}")

    def _log_tail(self) -> str:
        try:
            return " ".join(self.log_path.read_text(errors="replace").splitlines()[-5:])[-800:]
        except OSError:
            return "no log"

    def _terminate(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)

    def stop(self) -> None:
        self._terminate()
        if self.exporter is not None:
            self.exporter.close()
            self.exporter = None
        self._dead.close()

    def __enter__(self) -> PrometheusLab:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
