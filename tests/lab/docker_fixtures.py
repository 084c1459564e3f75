"""pytest fixtures of the docker lab (loaded by tests/conftest.py through `pytest_plugins`).

`docker_lab` (session scope) runs two REAL Docker Engines, each in a network namespace of its own
(tests/lab/dockerd.py), reachable only through unix sockets the lab's SSH user may open:

- `main`: a plain dockerd (runc only, unix sockets only) with the lab's containers, all from a busybox-static
  image made with `docker import`: `web` (httpd published on 127.0.0.1:18080, compose labels, a passing
  healthcheck, access log on stderr), `public` (httpd published on 0.0.0.0:18081), `done` (exited 3),
  `crash` (`--restart always`, exits 1: a restart loop), `sick` (healthcheck always fails: unhealthy) and
  `warming` (healthcheck an hour away: starting). It also listens on `denied.sock`, which the lab re-owns to
  group root (0660) so the SSH user gets EACCES, as a user outside the docker group does.
- `tcp`: a dockerd configured through its daemon.json with `hosts` [its unix socket, tcp://127.0.0.1:2375]
  (inside its own namespace) and an `nvidia` runtime entry: the failing case of docker.tcp_api and the
  passing case of docker.nvidia_runtime. Nothing in the lab ever connects to its TCP port.

The lab never skips: where it cannot run every test using it fails and says why.
"""

from __future__ import annotations

import atexit
import grp
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.lab.availability import lab_unavailable
from tests.lab.common import LabError
from tests.lab.dockerd import Dockerd
from tests.lab.processes import ensure_lab_user

IMAGE = "opsconsole-lab/busybox:1"
TCP_API = "tcp://127.0.0.1:2375"
SETTLE_TIMEOUT_S = 20.0
WEB_COMMAND = ("sh", "-c", "echo web starting; exec httpd -f -vv -p 8080 -h /www")
COMPOSE = ("-l", "com.docker.compose.project=lab", "-l", "com.docker.compose.service=web")

# name -> `docker run` arguments (after the name).
CONTAINERS: dict[str, tuple[str, ...]] = {
    "web": ("-d", "--init", "-p", "127.0.0.1:18080:8080", *COMPOSE,
            "--health-cmd", "wget -q -O /dev/null http://127.0.0.1:8080/", "--health-interval", "1s",
            "--health-retries", "1", IMAGE, *WEB_COMMAND),
    "public": ("-d", "--init", "-p", "0.0.0.0:18081:8080", IMAGE, "httpd", "-f", "-p", "8080", "-h", "/www"),
    "done": ("-d", IMAGE, "sh", "-c", "echo bye; exit 3"),
    "crash": ("-d", "--restart", "always", IMAGE, "sh", "-c", "echo crashing; exit 1"),
    "sick": ("-d", "--init", "--health-cmd", "false", "--health-interval", "1s", "--health-retries", "1",
             IMAGE, "sleep", "3600"),
    "warming": ("-d", "--init", "--health-cmd", "true", "--health-interval", "1h",
                "--health-start-period", "1h", IMAGE, "sleep", "3600"),
}  # fmt: skip

# What each container must show before the lab is handed out (so no test has to wait for it).
_SETTLED: dict[str, Callable[[dict[str, Any]], bool]] = {
    "web": lambda c: c["State"].get("Health", {}).get("Status") == "healthy",
    "public": lambda c: c["State"]["Status"] == "running",
    "done": lambda c: c["State"]["Status"] == "exited",
    "crash": lambda c: c["RestartCount"] >= 1,
    "sick": lambda c: c["State"].get("Health", {}).get("Status") == "unhealthy",
    "warming": lambda c: c["State"].get("Health", {}).get("Status") == "starting",
}


class DockerLab:
    """Two real dockerds and their containers for one test session; `close()` removes every trace."""

    def __init__(self, base_dir: Path) -> None:
        if shutil.which("unshare") is None or not os.access("/usr/sbin/dockerd", os.X_OK):
            raise LabError("the docker lab needs dockerd and unshare (apt-get install docker.io util-linux)")
        self.group = grp.getgrgid(ensure_lab_user().pw_gid).gr_name  # the lab user's primary group
        self.public_dir = Path(tempfile.mkdtemp(prefix="opsconsole-docker-"))
        os.chmod(self.public_dir, 0o755)
        main_public = self.public_dir / "main"
        self.denied_socket = str(main_public / "denied.sock")
        self.main = Dockerd(
            "main",
            state_dir=base_dir / "main",
            public_dir=main_public,
            group=self.group,
            hosts=(f"unix://{main_public / 'docker.sock'}", f"unix://{self.denied_socket}"),
        )
        tcp_public = self.public_dir / "tcp"
        self.tcp = Dockerd(
            "tcp",
            state_dir=base_dir / "tcp",
            public_dir=tcp_public,
            group=self.group,
            config={
                "hosts": [f"unix://{tcp_public / 'docker.sock'}", TCP_API],
                "runtimes": {"nvidia": {"path": "/usr/bin/true"}},
            },
        )
        self._closed = False
        atexit.register(self.close)
        try:
            self.main.start()
            self.tcp.start()
            self.main.wait_ready()
            self.tcp.wait_ready()
            # Another group, mode 0660: the SSH user (not in group root) is refused with EACCES.
            os.chown(self.denied_socket, 0, 0)
            os.chmod(self.denied_socket, 0o660)
            self.main.import_busybox(IMAGE)
            with ThreadPoolExecutor(max_workers=3) as pool:
                list(
                    pool.map(
                        lambda item: self.main.cli("run", "--name", item[0], *item[1]), CONTAINERS.items()
                    )
                )
            self._wait_settled()
        except BaseException:
            self.close()
            raise

    @property
    def socket(self) -> str:
        """The main daemon's socket (group-owned by the lab user's group)."""
        return str(self.main.socket)

    @property
    def tcp_socket(self) -> str:
        return str(self.tcp.socket)

    def _wait_settled(self) -> None:
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        pending = dict(_SETTLED)
        while pending:
            for name, settled in list(pending.items()):
                if settled(self.main.inspect(name)):
                    del pending[name]
            if not pending:
                return
            if time.monotonic() > deadline:
                states = {name: self.main.inspect(name)["State"] for name in pending}
                raise LabError(f"docker lab containers not settled within {SETTLE_TIMEOUT_S:.0f}s: {states}")
            time.sleep(0.05)

    def run_container(self, name: str, *args: str) -> str:
        """`docker run -d --name NAME ARGS...` on the main daemon; the container's id."""
        return self.main.cli("run", "-d", "--name", name, *args).strip()

    def remove(self, name: str) -> None:
        self.main.cli("rm", "-f", name)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        errors: list[str] = []
        with ThreadPoolExecutor(max_workers=2) as pool:
            for future in [pool.submit(daemon.stop) for daemon in (self.main, self.tcp)]:
                try:
                    future.result()
                except Exception as exc:  # keep going: the other daemon must still go
                    errors.append(str(exc))
        shutil.rmtree(self.public_dir, ignore_errors=True)
        if errors:
            raise LabError("; ".join(errors))


@pytest.fixture(scope="session")
def docker_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerLab]:
    """Real dockerds with the lab's containers for the whole session, torn down at its end."""
    try:
        lab = DockerLab(tmp_path_factory.mktemp("docker-lab"))
    except LabError as exc:
        lab_unavailable("the docker lab", exc)
    try:
        yield lab
    finally:
        lab.close()
