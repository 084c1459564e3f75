"""The split plane in the lab: a pod whose DCGM exporter answers only on its own loopback, and a workstation
whose Prometheus scrapes it through `opsconsole tunnels up`.

    hub namespace (the workstation): Prometheus on 127.0.0.1:P, file_sd from the tunnels' file;
                                     `opsconsole tunnels up` (its listeners on 127.0.0.1 there)
    host namespace h0 (the pod):     sshd on 10.222.0.2:22, pod_exporter on 127.0.0.1:9400 (its own loopback)

Everything is polled against a deadline, never slept. `close()` stops what it started (the fleet's own
close removes the namespaces).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tests.lab.common import LabError
from tests.lab.netns import NetnsFleet
from tests.lab.network import _free_port
from tests.lab.prometheus import PROMETHEUS

REPO = Path(__file__).resolve().parents[2]
EXPORTER_PORT = 9400


def _config(file_sd: Path) -> str:
    return f"""\
global: {{scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: pods
    file_sd_configs: [{{files: ["{file_sd}"], refresh_interval: 1s}}]
"""


def wait_for(what: str, condition: Any, timeout: float, every: float = 0.1) -> Any:
    """condition()'s first truthy value, or LabError naming `what` once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, KeyError):
            last = condition()
            if last:
                return last
        time.sleep(every)
    raise LabError(f"{what} not within {timeout:g}s (last: {last!r})")


class SplitPlane:
    def __init__(self, fleet: NetnsFleet, workdir: Path) -> None:
        self.fleet = fleet
        self.workdir = workdir
        self.host = fleet.hosts[0]
        self.file_sd = workdir / "targets" / "pods.json"
        self.file_sd.parent.mkdir()
        self.prometheus_port = 0
        self.processes: list[subprocess.Popen[bytes]] = []
        self.up: subprocess.Popen[bytes] | None = None
        self.up_stderr = workdir / "tunnels-up.stderr"

    def start(self) -> None:
        exporter = subprocess.Popen(
            ["ip", "netns", "exec", self.host.netns, sys.executable, "-m", "tests.lab.pod_exporter",
             str(EXPORTER_PORT), "pod1"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        self.processes.append(exporter)
        assert exporter.stdout is not None
        if exporter.stdout.readline().strip() != b"ready":
            raise LabError("the pod exporter did not start")
        config = self.workdir / "prometheus.yml"
        config.write_text(_config(self.file_sd), encoding="utf-8")
        self.prometheus_port = _free_port()  # a port of this namespace: free in the hub's too, most likely
        with open(self.workdir / "prometheus.log", "ab") as log:
            prometheus = subprocess.Popen(
                self.fleet.hub_argv(
                    [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={self.workdir / 'data'}",
                     f"--web.listen-address=127.0.0.1:{self.prometheus_port}"]
                ),
                stdout=log, stderr=log, start_new_session=True,
            )  # fmt: skip
        self.processes.append(prometheus)
        wait_for("prometheus answering", lambda: self.api("/-/ready", raw=True), 15)

    def api(self, path: str, *, raw: bool = False, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with self.fleet.enter():  # Prometheus listens on the hub's loopback
            url = f"http://127.0.0.1:{self.prometheus_port}{path}{query}"
            with urllib.request.urlopen(url, timeout=2.0) as response:
                body = response.read()
        return body if raw else json.loads(body)["data"]

    def start_tunnels(self, inventory: Path) -> None:
        argv = [sys.executable, "-m", "console", "-i", str(inventory), "tunnels", "up", "--file-sd",
                str(self.file_sd)]  # fmt: skip
        with open(self.up_stderr, "wb") as err:
            self.up = subprocess.Popen(
                self.fleet.hub_argv(argv),
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=os.environ.copy(),
            )

    def status(self, inventory: Path) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-m", "console", "-i", str(inventory), "tunnels", "status", "--json"],
            cwd=REPO, capture_output=True, timeout=30, check=False,
        )  # fmt: skip
        return dict(json.loads(done.stdout))

    def connection_pids(self) -> list[int]:
        """The sshd processes serving connections to the pod: every descendant of its listening sshd (the
        privileged monitor per connection and the session process it forked, which holds the socket too)."""
        pids: list[int] = []
        todo = list(self.fleet.sshd_pids())
        while todo:
            parent = todo.pop()
            with contextlib.suppress(OSError):
                children = [
                    int(p) for p in Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
                ]
                pids += children
                todo += children
        return pids

    def stop_tunnels(self) -> tuple[int, str]:
        """SIGINT (Ctrl+C) to `tunnels up`; its exit status and stderr."""
        assert self.up is not None
        self.up.send_signal(signal.SIGINT)
        code = self.up.wait(timeout=20)
        return code, self.up_stderr.read_text(errors="replace")

    def close(self) -> None:
        for process in [*([self.up] if self.up else []), *self.processes]:
            if process.poll() is None:
                with contextlib.suppress(OSError):
                    os.killpg(process.pid, signal.SIGKILL) if process is not self.up else process.kill()
                process.wait(timeout=10)
