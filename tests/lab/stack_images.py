"""The AI-stack lab: local STAND-IN images, a real dockerd for them, and an SSH node inside its network.

Stand-ins (and why): the real images (mmartial/comfyui-nvidia-docker, ollama/ollama, open-webui) are many GB,
need a GPU and a registry, and the test machines have neither network nor GPU. So each is replaced by a
busybox-static image made with `docker import` (no registry, never pulled) that listens on the same container
port and behaves like the real one where the wizard can tell:

- comfy: refuses to start (exit 1, "Directory /comfy/mnt owned by unexpected user/group") unless
  WANTED_UID/WANTED_GID are 1024:1024, /comfy/mnt is owned by them and nothing is mounted below /comfy/mnt;
  under `restart: unless-stopped` that is a real restart loop. Its first run "installs" for FIRST_RUN_S
  seconds (log lines, HTTP refused), leaves a marker in /comfy/mnt, then prints "Starting server" and serves
  HTTP on 8188. Later runs start at once, as the real image does once /comfy/mnt holds its venv.
- ollama: "Ollama is running" on 11434. openwebui: a page on 8080.

Everything else is real: dockerd (its own network namespace, so published 127.0.0.1 ports exist only there),
docker-compose, sudo with a NOPASSWD drop-in limited to this lab's paths, and OpenSSH: `NetnsSshNode` runs
`sshd -i` (inetd mode, one sshd per connection) inside the dockerd's network namespace, behind a listener on
127.0.0.1 here. A command over SSH therefore sees the published ports on its own 127.0.0.1, exactly as on a
real node, and direct-tcpip (probes, tunnels) reaches them through SSH. The node's nvidia-smi is the lab's
H100 replay (driver 580) and its PATH holds a stand-in `nvidia-container-runtime` (it execs runc): no GPU.

Fixtures (test modules load this file with `pytest_plugins = ["tests.lab.stack_images"]`): `stack_lab`
(session: dockerd, images, node, sudo rules, the group) and `stack` (per test: a fresh root standing in for
the node's `/`, settings pointing there, an SSH transport; containers and the root are removed afterwards).
A second, own dockerd (not the shared docker lab's) because other tests assert on that daemon's containers,
it has no `nvidia` runtime, and the nvidia fix rewrites its daemon's daemon.json.
"""

from __future__ import annotations

import atexit
import contextlib
import grp
import os
import shutil
import socket
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest

from console.actions import AuditLog
from console.collectors.docker import close_docker_clients
from console.inventory.model import DockerSettings, Node, SSHSettings
from console.transport.ssh import SSHTransport
from console.wizards.engine import Emit, NodeContext
from console.wizards.settings import AiStackSettings
from tests.lab.availability import lab_unavailable
from tests.lab.common import LAB_HOST, SSHD, LabError
from tests.lab.daemon import install_replay, sshd_config
from tests.lab.dockerd import BUSYBOX, Dockerd
from tests.lab.keys import _write_atomic, _write_private, public_key_line
from tests.lab.processes import ensure_lab_user, kill_tree_below
from tests.lab.sshd import SshLab

PREFIX = "opsconsole-stack-"  # every path the lab's sudoers rules allow starts with /tmp/PREFIX
FIRST_RUN_S = 3
STANDIN_TAGS = {
    "comfy": "opsconsole-lab/comfyui-standin:1",
    "ollama": "opsconsole-lab/ollama-standin:1",
    "openwebui": "opsconsole-lab/openwebui-standin:1",
}
APPLETS = (
    "sh",
    "httpd",
    "sleep",
    "echo",
    "cat",
    "stat",
    "awk",
    "touch",
    "chown",
    "wget",
    "id",
    "ls",
    "mkdir",
    "env",
)

COMFY_ENTRY = f"""#!/bin/sh
# opsconsole lab STAND-IN for mmartial/comfyui-nvidia-docker (not the real image)
want="${{WANTED_UID:-unset}}:${{WANTED_GID:-unset}}"
echo "== ComfyUI stand-in: checking /comfy/mnt for $want"
owner=$(stat -c %u:%g /comfy/mnt 2>/dev/null || echo missing)
if [ "$want" != "1024:1024" ] || [ "$owner" != "$want" ]; then
  echo "ERROR: Directory /comfy/mnt owned by unexpected user/group ($owner), expected $want"
  exit 1
fi
if awk '$5 ~ "^/comfy/mnt/" {{ found = 1 }} END {{ exit !found }}' /proc/self/mountinfo; then
  echo "ERROR: Directory /comfy/mnt owned by unexpected user/group: sub-mounts below /comfy/mnt"
  exit 1
fi
if [ ! -f /comfy/mnt/.standin-installed ]; then
  echo "First run: cloning ComfyUI into /comfy/mnt"
  for part in "building the venv" "downloading wheels" "installing custom nodes"; do
    sleep {FIRST_RUN_S / 3:g}; echo "First run: $part"
  done
  touch /comfy/mnt/.standin-installed && chown "$want" /comfy/mnt/.standin-installed
fi
echo "Starting server"
echo "To see the GUI go to: http://0.0.0.0:8188"
exec httpd -f -p 8188 -h /www
"""
OLLAMA_ENTRY = """#!/bin/sh
echo "ollama stand-in: Listening on [::]:11434"
exec httpd -f -p 11434 -h /www-ollama
"""
OPENWEBUI_ENTRY = """#!/bin/sh
echo "open-webui stand-in: OLLAMA_BASE_URL=$OLLAMA_BASE_URL"
exec httpd -f -p 8080 -h /www
"""
RUNTIME_STANDIN = """#!/bin/sh
# opsconsole lab STAND-IN for nvidia-container-runtime: plain runc
exec /usr/sbin/runc "$@"
"""


def _rootfs_tar(work: Path) -> Path:
    rootfs = work / "rootfs"
    for sub in ("bin", "www", "www-ollama", "tmp", "etc", "proc", "sys", "dev", "comfy/mnt"):
        (rootfs / sub).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
    for applet in APPLETS:
        (rootfs / "bin" / applet).symlink_to("busybox")
    (rootfs / "www" / "index.html").write_text("stand-in web UI\n", encoding="utf-8")
    (rootfs / "www-ollama" / "index.html").write_text("Ollama is running\n", encoding="utf-8")
    for name, text in (("comfy", COMFY_ENTRY), ("ollama", OLLAMA_ENTRY), ("openwebui", OPENWEBUI_ENTRY)):
        entry = rootfs / f"{name}-entry.sh"
        entry.write_text(text, encoding="utf-8")
        entry.chmod(0o755)
    tar_path = work / "rootfs.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(rootfs, arcname=".")
    return tar_path


def import_standins(dockerd: Dockerd, work: Path) -> dict[str, str]:
    """`docker import` the three stand-ins into dockerd (tags: STANDIN_TAGS); service -> image."""
    data = _rootfs_tar(work).read_bytes()
    ports = {"comfy": 8188, "ollama": 11434, "openwebui": 8080}
    for service, tag in STANDIN_TAGS.items():
        changes = (f'ENTRYPOINT ["/bin/sh", "/{service}-entry.sh"]', f"EXPOSE {ports[service]}")
        dockerd.cli(
            "import", *(arg for change in changes for arg in ("--change", change)), "-", tag, stdin=data
        )
    return dict(STANDIN_TAGS)


class NetnsSshNode:
    """A lab SSH node whose sessions run in another process's network namespace (`sshd -i` per connection).

    Logs in as the lab user with the lab's client key; its PATH starts with a bin dir holding the nvidia-smi
    replay (idle H100) and the nvidia-container-runtime stand-in.
    """

    def __init__(self, lab: SshLab, name: str, netns_pid: int, base: Path, public: Path) -> None:
        self.lab, self.name, self.netns_pid = lab, name, netns_pid
        self.dir = base / name
        self.dir.mkdir(parents=True)
        public_node = public / "nodes" / name
        self.bin_dir = public_node / "bin"
        self.bin_dir.mkdir(parents=True)
        for path in (public / "nodes", public_node, self.bin_dir):
            path.chmod(0o755)
        install_replay(public_node, "idle")
        runtime = self.bin_dir / "nvidia-container-runtime"
        runtime.write_text(RUNTIME_STANDIN, encoding="utf-8")
        runtime.chmod(0o755)
        key = asyncssh.generate_private_key("ssh-ed25519")
        self.host_key = self.dir / "ssh_host_ed25519_key"
        _write_private(self.host_key, key.export_private_key("openssh"))
        self.config = self.dir / "sshd_config"
        self.log_path = self.dir / "sshd.log"
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind((LAB_HOST, 0))
        self._listener.listen(16)
        self.port: int = self._listener.getsockname()[1]
        self.config.write_text(
            sshd_config(
                self.port,
                self.host_key,
                self.dir / "sshd.pid",
                self.bin_dir,
                authorized_keys=lab.authorized_keys_path,
                user=lab.user,
            ),
            encoding="utf-8",
        )
        self.known_hosts = self.dir / "known_hosts"
        _write_atomic(self.known_hosts, f"[{LAB_HOST}]:{self.port} {public_key_line(key)}\n")
        self._children: list[subprocess.Popen[bytes]] = []
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name=f"netns-sshd-{name}", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with conn, open(self.log_path, "ab") as log:
                child = subprocess.Popen(
                    [
                        "nsenter",
                        f"--net=/proc/{self.netns_pid}/ns/net",
                        "--",
                        SSHD,
                        "-i",
                        "-e",
                        "-f",
                        str(self.config),
                    ],
                    stdin=conn.fileno(),
                    stdout=conn.fileno(),
                    stderr=log,
                    start_new_session=True,
                )
            self._children = [c for c in self._children if c.poll() is None] + [child]

    def node_model(self, *, socket_path: str, **fields: object) -> Node:
        ssh = SSHSettings(
            user=self.lab.user,
            port=self.port,
            identity_file=str(self.lab.client_key_path),
            known_hosts=str(self.known_hosts),
            connect_timeout=5,
            command_timeout=30,
        )
        return Node(self.name, LAB_HOST, ssh=ssh, docker=DockerSettings(socket=socket_path), **fields)  # type: ignore[arg-type]

    def inventory_yaml(self, *, socket_path: str, extra: str = "") -> str:
        """A version-1 inventory with this node (`extra`: more YAML under the node, indented 4)."""
        return (
            f"version: 1\nname: stack-lab\nnodes:\n  {self.name}:\n    host: {LAB_HOST}\n"
            f"    ssh: {{user: {self.lab.user}, port: {self.port}, connect_timeout: 5,\n"
            f"          identity_file: '{self.lab.client_key_path}', known_hosts: '{self.known_hosts}'}}\n"
            f"    docker: {{socket: '{socket_path}'}}\n{extra}"
        )

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(timeout=5)
        for child in self._children:
            if child.poll() is None:
                kill_tree_below(child.pid)
                child.kill()
            child.wait(timeout=5)


@dataclass
class SudoRules:
    """A NOPASSWD sudoers drop-in for the lab user, limited to this lab's paths and its docker group."""

    path: Path

    @classmethod
    def install(cls, user: str, group: str) -> SudoRules:
        if shutil.which("sudo") is None or shutil.which("visudo") is None:
            raise LabError("the stack lab needs sudo (apt-get install sudo)")
        tmp = f"/tmp/{PREFIX}*"
        # Only what the wizard runs as root here: a lab user that may do anything else through sudo would
        # hide a plan that asks for more. (Wildcards also match "..": acceptable for a throwaway test user.)
        commands = [
            f"/usr/bin/mkdir -p {tmp}",
            f"/usr/bin/chown -R 1024\\:1024 {tmp}",
            f"/usr/bin/chmod -R 775 {tmp}",
            f"/usr/bin/tee {tmp}",
            f"/usr/bin/cp -p {tmp}",
            f"/usr/sbin/usermod -aG {group} {user}",
            "/usr/bin/kill -HUP [0-9]*",
        ]
        text = f"{user} ALL=(root) NOPASSWD: " + ", ".join(commands) + "\n"
        path = Path(f"/etc/sudoers.d/opsconsole-lab-stack-{os.getpid()}")
        staged = path.with_name(f".{path.name}.tmp")  # sudo ignores names with a dot
        staged.write_text(text, encoding="utf-8")
        staged.chmod(0o440)
        check = subprocess.run(["visudo", "-cf", str(staged)], capture_output=True, text=True, check=False)
        if check.returncode != 0:
            staged.unlink()
            raise LabError(f"sudoers drop-in rejected: {check.stdout}{check.stderr}")
        os.replace(staged, path)
        return cls(path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


class StackLab:
    """A dockerd with the stand-ins (an `nvidia` runtime registered), an SSH node in its network namespace,
    sudo rules, and a docker group of its own for the permission-denied fault. `close()` undoes it all."""

    def __init__(self, ssh_lab: SshLab, state_dir: Path) -> None:
        self.ssh_lab = ssh_lab
        self.user = ssh_lab.user
        ensure_lab_user()
        self.public = Path(tempfile.mkdtemp(prefix=PREFIX))
        self.public.chmod(0o755)
        self.state_dir = state_dir
        self.group = f"opsdkr{os.getpid()}"  # the docker group of the "denied" socket
        self._undo: list[tuple[str, Callable[[], object]]] = []
        atexit.register(self.close)  # a session that dies without its fixture teardown still cleans up
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        subprocess.run(["groupadd", self.group], check=True, capture_output=True)
        self._undo.append(("group", self._drop_group))
        self.sudo = SudoRules.install(self.user, self.group)
        self._undo.append(("sudo", self.sudo.remove))
        lab_group = grp.getgrgid(ensure_lab_user().pw_gid).gr_name
        public_docker = self.public / "docker"
        self.denied_socket = str(public_docker / "denied.sock")
        self.dockerd = self.new_dockerd(
            "stack", nvidia=True, group=lab_group, extra_hosts=(f"unix://{self.denied_socket}",)
        )
        os.chown(self.denied_socket, 0, grp.getgrnam(self.group).gr_gid)
        os.chmod(self.denied_socket, 0o660)
        self.images = import_standins(self.dockerd, self.state_dir)
        self.node = NetnsSshNode(
            self.ssh_lab, "stack1", self.dockerd.pid, self.state_dir / "nodes", self.public
        )
        self._undo.append(("node", self.node.close))

    def new_dockerd(
        self, name: str, *, nvidia: bool, group: str | None = None, extra_hosts: tuple[str, ...] = ()
    ) -> Dockerd:
        """A started dockerd (own network namespace) whose files sit under this lab's sudo-able prefix."""
        public = self.public / ("docker" if name == "stack" else f"docker-{name}")
        runtime = self.public / "nodes" / "stack1" / "bin" / "nvidia-container-runtime"
        config: dict[str, object] = {"runtimes": {"nvidia": {"path": str(runtime)}}} if nvidia else {}
        dockerd = Dockerd(
            name,
            state_dir=self.state_dir / f"dockerd-{name}",
            public_dir=public,
            group=group or grp.getgrgid(ensure_lab_user().pw_gid).gr_name,
            config=config,
            hosts=(f"unix://{public / 'docker.sock'}", *extra_hosts),
        )
        self._undo.append((f"dockerd {name}", dockerd.stop))
        dockerd.start()
        dockerd.wait_ready()
        return dockerd

    @property
    def socket(self) -> str:
        return str(self.dockerd.socket)

    def new_root(self) -> Path:
        """A fresh root-owned 0755 directory standing in for the node's `/`: the lab user needs sudo there."""
        root = Path(tempfile.mkdtemp(prefix="root-", dir=self.public))
        root.chmod(0o755)
        return root

    def docker(self, *args: str, dockerd: Dockerd | None = None) -> str:
        return (dockerd or self.dockerd).cli(*args)

    def reset(self, root: Path) -> None:
        """Remove every container and unused network of the stack daemon, and the test's root."""
        containers = self.docker("ps", "-aq").split()
        if containers:
            self.docker("rm", "-f", *containers)
        self.docker("network", "prune", "-f")
        shutil.rmtree(root, ignore_errors=True)

    def _drop_group(self) -> None:
        subprocess.run(["gpasswd", "-d", self.user, self.group], capture_output=True, check=False)
        subprocess.run(["groupdel", self.group], capture_output=True, check=False)

    def close(self) -> None:
        """Undo everything, newest first (idempotent); report what could not be undone."""
        atexit.unregister(self.close)
        errors: list[str] = []
        for what, undo in reversed(self._undo):
            try:
                undo()
            except Exception as exc:  # keep going: everything else must still go
                errors.append(f"{what}: {exc}")
        self._undo.clear()
        shutil.rmtree(self.public, ignore_errors=True)
        if errors:
            raise LabError("stack lab teardown: " + "; ".join(errors))


# --- pytest fixtures ------------------------------------------------------------------------------------


@dataclass
class StackEnv:
    """One test's fresh node: an empty root standing in for `/`, settings pointing there and at the stand-ins,
    the node model and an SSH transport to it."""

    lab: StackLab
    root: Path
    settings: AiStackSettings
    node: Node
    transport: SSHTransport

    def context(self, emit: Emit | None = None) -> NodeContext:
        return NodeContext(self.transport, self.node, AuditLog(), emit=emit or (lambda event: None))

    def state(self) -> dict[str, object]:
        """What a dry run must leave alone: every path under the root (owner, mode), containers, networks."""
        tree = {}
        for path in [self.root, *sorted(self.root.rglob("*"))]:
            info = path.lstat()
            tree[str(path.relative_to(self.root))] = (
                info.st_uid,
                info.st_gid,
                oct(info.st_mode),
                info.st_size,
            )
        containers = self.lab.docker("ps", "-a", "--format", "{{.Names}} {{.State}} {{.Image}}")
        return {
            "tree": tree,
            "containers": sorted(containers.splitlines()),
            "networks": sorted(self.lab.docker("network", "ls", "--format", "{{.Name}}").split()),
        }

    def settings_with(self, **overrides: object) -> AiStackSettings:
        return lab_settings(self.lab, self.root, **overrides)

    def node_for(self, socket_path: str) -> Node:
        """The same node, with its Docker socket elsewhere (another daemon, the denied socket)."""
        return self.lab.node.node_model(socket_path=socket_path)

    def comfy_installed(self) -> None:
        """A node where ComfyUI installed itself before: comfy-mnt holds its marker, so starts are instant."""
        mnt = Path(self.settings.comfy_mnt)
        mnt.mkdir(parents=True)
        (mnt / ".standin-installed").touch()
        for path in (mnt, mnt / ".standin-installed"):
            os.chown(path, 1024, 1024)
            path.chmod(0o775)


def lab_settings(lab: StackLab, root: Path, **overrides: object) -> AiStackSettings:
    """The stand-in images, storage and project under `root`, no GPU reservation (the lab has no GPU), the
    replay's driver branch (580) and a short poll for the first-run wait."""
    fields: dict[str, object] = {
        "nvme_root": f"{root}/mnt/local/nvme/ai",
        "ssd_root": f"{root}/mnt/local/ssd/ai",
        "project_dir": f"{root}/opt/ai-stack",
        "comfy_image": lab.images["comfy"],
        "ollama_image": lab.images["ollama"],
        "openwebui_image": lab.images["openwebui"],
        "driver_major": "580",
        "gpu_access": False,
        "first_run_timeout": 60.0,
        "poll_interval": 0.3,
    }
    fields.update(overrides)
    return AiStackSettings(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def stack_lab(ssh_lab: SshLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackLab]:
    try:
        lab = StackLab(ssh_lab, tmp_path_factory.mktemp("stack-lab"))
    except (LabError, subprocess.CalledProcessError) as exc:
        lab_unavailable("the AI-stack lab", exc)
    try:
        yield lab
    finally:
        lab.close()


@pytest.fixture
async def stack(stack_lab: StackLab) -> AsyncIterator[StackEnv]:
    root = stack_lab.new_root()
    node = stack_lab.node.node_model(socket_path=stack_lab.socket)
    transport = SSHTransport(node)
    try:
        yield StackEnv(stack_lab, root, lab_settings(stack_lab, root), node, transport)
    finally:
        await close_docker_clients(transport)
        await transport.close()
        stack_lab.reset(root)
