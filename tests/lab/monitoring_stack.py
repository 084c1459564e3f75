"""A monitoring stack with known trouble, on 127.0.0.1: a real Prometheus (Debian's) and a real Alertmanager
(Debian's prometheus-alertmanager), plus a Grafana stand-in.

Prometheus scrapes itself (job "prometheus"), a slow exporter that answers each scrape after `slow_s` of a
1 s interval (job "slow"), and a port that is bound but never listens (job "dead": no target up). Its rules:
one alert that always fires (sent to the Alertmanager) and one recording rule whose expression fails at
every evaluation (`up * on() up`: several series on each side of a one-to-one match).

Grafana cannot run here (no package); the stand-in answers GET /api/health with the body Grafana's health
endpoint returns (`{"commit": ..., "database": "ok", "version": ...}`, its documented shape), or
`"database": "failing"` with HTTP 503 as Grafana does when its database is unreachable (`grafana_database`).

Readiness is polled, never slept.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.lab.common import LAB_HOST, LabError
from tests.lab.network import _free_port
from tests.lab.processes import _kill_parent_death_signal

PROMETHEUS = "/usr/bin/prometheus"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
FAILING_RULE = "lab:up_times_up"
GRAFANA_VERSION = "11.3.0"


class _Server(ThreadingHTTPServer):
    daemon_threads = True


def _serve(handler: type[BaseHTTPRequestHandler]) -> _Server:
    server = _Server((LAB_HOST, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class MonitoringStack:
    def __init__(self, workdir: Path, *, slow_s: float = 0.9) -> None:
        for binary in (PROMETHEUS, ALERTMANAGER):
            if shutil.which(binary) is None:
                raise LabError(f"{binary} not found: install Debian's prometheus and prometheus-alertmanager")
        self.workdir = workdir
        self.slow_s = slow_s
        self.grafana_database = "ok"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.servers: list[_Server] = []
        self._dead = socket.socket()
        self._dead.bind((LAB_HOST, 0))  # bound, never listening: every scrape is refused
        self.port = self.alertmanager_port = 0

    @property
    def url(self) -> str:
        return f"http://{LAB_HOST}:{self.port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://{LAB_HOST}:{self.alertmanager_port}"

    @property
    def grafana_url(self) -> str:
        return f"http://{LAB_HOST}:{self.servers[1].server_address[1]}"

    def _start_http(self) -> None:
        stack = self

        class Slow(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                time.sleep(stack.slow_s)
                body = b"lab_slow_exporter_up 1\n"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        class Grafana(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                ok = stack.grafana_database == "ok"
                health = {
                    "commit": "0b9ec1c2",
                    "database": stack.grafana_database,
                    "version": GRAFANA_VERSION,
                }
                body = json.dumps(health).encode()
                self.send_response(404 if self.path != "/api/health" else 200 if ok else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.servers = [_serve(Slow), _serve(Grafana)]

    def _spawn(self, argv: list[str], log: Path) -> None:
        in_main = threading.current_thread() is threading.main_thread()
        with open(log, "ab") as out:
            self.processes.append(
                subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=out,
                    start_new_session=True,
                    preexec_fn=_kill_parent_death_signal if in_main else None,
                )
            )

    def start(self) -> None:
        try:
            self._start_http()
            self.alertmanager_port = _free_port()
            cluster = _free_port()
            config = self.workdir / "alertmanager.yml"
            config.write_text("route: {receiver: lab}\nreceivers: [{name: lab}]\n", encoding="utf-8")
            self._spawn(
                [
                    ALERTMANAGER,
                    f"--config.file={config}",
                    f"--storage.path={self.workdir / 'am-data'}",
                    f"--web.listen-address={LAB_HOST}:{self.alertmanager_port}",
                    f"--cluster.listen-address={LAB_HOST}:{cluster}",
                ],
                self.workdir / "alertmanager.log",
            )
            self.port = _free_port()
            rules = self.workdir / "rules.yml"
            rules.write_text(
                "groups:\n  - name: lab\n    interval: 1s\n    rules:\n"
                f"      - record: {FAILING_RULE}\n        expr: up * on() up\n"
                "      - alert: LabAlwaysFiring\n        expr: vector(1)\n",
                encoding="utf-8",
            )
            slow = self.servers[0].server_address[1]
            dead = self._dead.getsockname()[1]
            manager = f'{{static_configs: [{{targets: ["{LAB_HOST}:{self.alertmanager_port}"]}}]}}'
            prometheus = self.workdir / "prometheus.yml"
            prometheus.write_text(
                "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n"
                f'rule_files: ["{rules}"]\n'
                f"alerting: {{alertmanagers: [{manager}]}}\n"
                "scrape_configs:\n"
                f'  - {{job_name: prometheus, static_configs: [{{targets: ["{LAB_HOST}:{self.port}"]}}]}}\n'
                f'  - {{job_name: slow, static_configs: [{{targets: ["{LAB_HOST}:{slow}"]}}]}}\n'
                f'  - {{job_name: dead, static_configs: [{{targets: ["{LAB_HOST}:{dead}"]}}]}}\n',
                encoding="utf-8",
            )
            self._spawn(
                [
                    PROMETHEUS,
                    f"--config.file={prometheus}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address={LAB_HOST}:{self.port}",
                ],
                self.workdir / "prometheus.log",
            )
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def api(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=2.0) as response:
            return json.load(response)["data"]

    def _state(self) -> dict[str, bool]:
        targets = self.api("/api/v1/targets")["activeTargets"]
        health = {t["labels"]["job"]: t["health"] for t in targets}
        slow = [t for t in targets if t["labels"]["job"] == "slow"]
        rules = [r for g in self.api("/api/v1/rules")["groups"] for r in g["rules"]]
        managers = self.api("/api/v1/alertmanagers")["activeAlertmanagers"]
        with urllib.request.urlopen(f"{self.alertmanager_url}/-/healthy", timeout=2.0) as response:
            am = response.status == 200
        return {
            "targets scraped": health == {"prometheus": "up", "slow": "up", "dead": "down"},
            "slow scrape seen": bool(slow) and slow[0].get("lastScrapeDuration", 0) >= 0.8 * 1.0,
            "failing rule": any(r.get("name") == FAILING_RULE and r.get("health") == "err" for r in rules),
            "alertmanager known": bool(managers),
            "alertmanager healthy": am,
        }

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 40.0
        state: dict[str, bool] = {}
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    raise LabError(f"{process.args[0]} exited with {process.returncode}")
            with contextlib.suppress(OSError, ValueError, KeyError):
                state = self._state()
                if all(state.values()):
                    return
            time.sleep(0.2)
        missing = [name for name, ok in state.items() if not ok] or ["no answer"]
        raise LabError(f"monitoring stack not ready: missing {', '.join(missing)}")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=5.0)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5.0)
        self.processes = []
        for server in self.servers:
            server.shutdown()
            server.server_close()
        self.servers = []
        self._dead.close()

    def __enter__(self) -> MonitoringStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
