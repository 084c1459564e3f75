"""A real Slurm cluster (Debian's 22.05) on the network-namespace fleet.

    hosts h0, h1, h2 (NetnsFleet: sshd each, in a network namespace of its own, nvidia-smi replay)
    h0: slurmctld + slurmd -N h0;  h1, h2: slurmd -N h1 / -N h2;  munged once (a unix socket: every namespace
    reaches it through the file system)

Each slurmd node has two GPUs in gres.conf, backed by character devices made with mknod (major 195, as
/dev/nvidiaN) under the lab's directory. The lab's non-root SSH user is SlurmUser (Slurm's administrator:
it may drain and resume without an accounting database) and submits the jobs, so it may cancel them.
Everything lives in one temp dir; the Slurm commands reach its slurm.conf through wrappers on the hosts'
PATH (SLURM_CONF), never through /etc/slurm. `close()` stops every daemon this started and removes the dir.

Nothing sleeps blindly: every wait polls a state (a socket answering, `scontrol ping`, a node's state, a
job's state) against a deadline.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.lab.common import LabError
from tests.lab.netns import NetnsFleet, NetnsHost
from tests.lab.sshd import SshLab

SLURM_BIN = Path("/usr/bin")
SLURMCTLD = "/usr/sbin/slurmctld"
SLURMD = "/usr/sbin/slurmd"
MUNGED = "/usr/sbin/munged"
CLIENTS = ("sinfo", "squeue", "scontrol", "sbatch", "scancel", "srun")
GPUS_PER_NODE = 2
READY_TIMEOUT_S = 60.0
CTLD_PORT = 6817
SLURMD_PORT = 6818


def available() -> str | None:
    """Why the Slurm lab cannot run here, or None."""
    missing = [
        path for path in (SLURMCTLD, SLURMD, MUNGED, str(SLURM_BIN / "sinfo")) if not os.path.exists(path)
    ]
    if missing:
        return f"missing {', '.join(missing)} (apt packages slurmctld slurmd slurm-client munge)"
    if os.geteuid() != 0:
        return "needs root"
    return None


def _slurm_conf(base: Path, hosts: list[NetnsHost], user: str) -> str:
    nodes = [
        f"NodeName={host.name} NodeAddr={host.host} CPUs=2 RealMemory=1000 Gres=gpu:{GPUS_PER_NODE}"
        for host in hosts
    ]
    names = ",".join(host.name for host in hosts)
    return "\n".join(
        [
            "ClusterName=opslab",
            # slurmctld accepts only its own hostname as the controller's name; the address is h0's.
            f"SlurmctldHost={socket.gethostname()}({hosts[0].host})",
            "MailProg=/bin/true",
            f"SlurmUser={user}",
            "SlurmdUser=root",
            f"SlurmctldPort={CTLD_PORT}",
            f"SlurmdPort={SLURMD_PORT}",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={base}/munge/munge.socket.2",
            f"StateSaveLocation={base}/ctld-state",
            f"SlurmdSpoolDir={base}/spool/%n",
            f"SlurmctldPidFile={base}/run/slurmctld.pid",
            f"SlurmdPidFile={base}/run/slurmd-%n.pid",
            f"SlurmctldLogFile={base}/log/slurmctld.log",
            f"SlurmdLogFile={base}/log/slurmd-%n.log",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "GresTypes=gpu",
            "SlurmdParameters=config_overrides",
            "ReturnToService=2",
            "SchedulerType=sched/builtin",
            "SlurmctldTimeout=30",
            "SlurmdTimeout=60",
            "MpiDefault=none",
            *nodes,
            f"PartitionName=gpu Nodes={names} Default=YES MaxTime=INFINITE State=UP",
            "",
        ]
    )


class SlurmLab:
    """munged, slurmctld and one slurmd per fleet host; `fleet` is the SSH side (clients run in its hub)."""

    def __init__(self, lab: SshLab, *, count: int = 3) -> None:
        if count < 2:
            raise ValueError("the Slurm lab needs two or more nodes")
        self.lab = lab
        self.dir = Path(tempfile.mkdtemp(prefix="opsconsole-slurm-"))
        os.chmod(self.dir, 0o755)
        self.conf = self.dir / "slurm.conf"
        self.processes: list[subprocess.Popen[bytes]] = []
        self._closed = False
        self.fleet: NetnsFleet | None = None
        self.jobs: dict[str, str] = {}  # what scenario() set up
        atexit.register(self.close)
        try:
            self.fleet = NetnsFleet(lab, count)
            self.hosts = list(self.fleet.hosts)
            self._write_tree()
            self._start_munge()
            self._start_slurm()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> SlurmLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- setup ---------------------------------------------------------------------------------------------

    def _write_tree(self) -> None:
        user = pwd.getpwnam(self.lab.user)
        for sub in ("ctld-state", "spool", "run", "log", "dev"):
            (self.dir / sub).mkdir()
        for sub in ("ctld-state", "log", "run"):
            os.chown(self.dir / sub, user.pw_uid, user.pw_gid)
        for host in self.hosts:
            (self.dir / "spool" / host.name).mkdir()
        gres = []
        for index in range(GPUS_PER_NODE):
            # The same minor numbers as a real node's /dev/nvidia0, /dev/nvidia1.
            os.mknod(self.dir / "dev" / f"nvidia{index}", 0o666 | 0o020000, os.makedev(195, index))
            gres.append(f"Name=gpu File={self.dir}/dev/nvidia{index}")
        self.conf.write_text(_slurm_conf(self.dir, self.hosts, self.lab.user), encoding="utf-8")
        (self.dir / "gres.conf").write_text("\n".join(gres) + "\n", encoding="utf-8")
        assert self.fleet is not None
        for name in CLIENTS:
            wrapper = self.fleet.bin_dir / name
            wrapper.write_text(
                f'#!/bin/sh\nSLURM_CONF={self.conf} exec {SLURM_BIN / name} "$@"\n', encoding="utf-8"
            )
            os.chmod(wrapper, 0o755)
        for path in (self.conf, self.dir / "gres.conf"):
            os.chmod(path, 0o644)

    def _spawn(self, argv: list[str], log: str, *, netns: str | None = None) -> subprocess.Popen[bytes]:
        if netns is not None:
            argv = ["nsenter", f"--net=/run/netns/{netns}", "--", *argv]
        with open(self.dir / "log" / log, "ab") as out:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
                env={**os.environ, "SLURM_CONF": str(self.conf)},
            )
        self.processes.append(process)
        return process

    def _start_munge(self) -> None:
        munge = pwd.getpwnam("munge")
        directory = self.dir / "munge"
        directory.mkdir(mode=0o755)
        key = directory / "munge.key"
        key.write_bytes(os.urandom(1024))
        for path in (directory, key):
            os.chown(path, munge.pw_uid, munge.pw_gid)
        os.chmod(key, 0o400)
        munge_socket = directory / "munge.socket.2"
        self._spawn(
            [
                "runuser", "-u", "munge", "--", MUNGED, "--foreground", f"--socket={munge_socket}",
                f"--key-file={key}", f"--pid-file={directory}/munged.pid",
                f"--log-file={directory}/munged.log",
                f"--seed-file={directory}/munged.seed",
            ],
            "munged.out",
        )  # fmt: skip
        self._wait(lambda: munge_socket.exists(), "munged's socket", self.dir / "log" / "munged.out")

    def _start_slurm(self) -> None:
        assert self.fleet is not None
        ctld = self._spawn(
            [SLURMCTLD, "-D", "-i", "-f", str(self.conf)], "slurmctld.out", netns=self.hosts[0].netns
        )
        self._wait(lambda: self.run("scontrol", "ping").returncode == 0 and ctld.poll() is None, "slurmctld",
                   self.dir / "log" / "slurmctld.log")  # fmt: skip
        for host in self.hosts:
            self._spawn([SLURMD, "-D", "-N", host.name, "-f", str(self.conf)], f"slurmd-{host.name}.out",
                        netns=host.netns)  # fmt: skip
        for host in self.hosts:
            self.wait_node(host.name, lambda state: state in ("idle",), what="idle")

    def _wait(
        self, ready: Callable[[], bool], what: str, log: Path, timeout: float = READY_TIMEOUT_S
    ) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            for process in self.processes:
                if process.poll() is not None and process.returncode != 0:
                    raise LabError(
                        f"a Slurm lab daemon exited ({process.args!r}): {self._tail(log)} {self._outs()}"
                    )
            if time.monotonic() > deadline:
                raise LabError(f"{what} not ready within {timeout:.0f}s: {self._tail(log)}")
            time.sleep(0.05)

    def _outs(self) -> str:
        return " | ".join(
            f"{path.name}: {self._tail(path)[-500:]}" for path in (self.dir / "log").glob("*.out")
        )

    @staticmethod
    def _tail(path: Path) -> str:
        try:
            return path.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    # --- use -----------------------------------------------------------------------------------------------

    def run(
        self, *argv: str, user: str | None = None, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """A Slurm client command, run from h0's namespace (as the lab user when `user` is "lab")."""
        assert self.fleet is not None
        command = [str(SLURM_BIN / argv[0]), *argv[1:]]
        if user == "lab":
            command = ["runuser", "-u", self.lab.user, "--", *command]
        done = subprocess.run(
            ["nsenter", f"--net=/run/netns/{self.hosts[0].netns}", "--", *command],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={**os.environ, "SLURM_CONF": str(self.conf)},
        )
        if check and done.returncode != 0:
            raise LabError(f"{' '.join(argv)} failed: {done.stderr.strip()[:500]}")
        return done

    def node_state(self, name: str) -> str:
        done = self.run("sinfo", "-h", "-N", "-n", name, "-o", "%T")
        return done.stdout.strip().lower() or done.stderr.strip()[:300]

    def wait_node(self, name: str, ready: Callable[[str], bool], *, what: str) -> str:
        state = ""

        def check() -> bool:
            nonlocal state
            state = self.node_state(name)
            return ready(state)

        self._wait(
            check, f"node {name} {what} (last state {state!r})", self.dir / "log" / f"slurmd-{name}.log"
        )
        return state

    @contextlib.contextmanager
    def without_json(self) -> Iterator[None]:
        """The hosts' sinfo and squeue refuse --json as a Slurm built without a data_parser plugin (or older
        than 21.08) does; the real commands answer everything else."""
        assert self.fleet is not None
        wrappers = {name: self.fleet.bin_dir / name for name in ("sinfo", "squeue")}
        kept = {name: path.read_text() for name, path in wrappers.items()}
        for name, path in wrappers.items():
            path.write_text(
                '#!/bin/sh\ncase " $* " in *" --json "*) '
                f"echo \"{name}: unrecognized option '--json'\" >&2; exit 1;; esac\n"
                f'SLURM_CONF={self.conf} exec {SLURM_BIN / name} "$@"\n',
                encoding="utf-8",
            )
        try:
            yield
        finally:
            for name, path in wrappers.items():
                path.write_text(kept[name], encoding="utf-8")

    def inventory_yaml(self) -> str:
        """The hosts as an inventory (each reports one GPU, Slurm configures two), Slurm read through h0."""
        assert self.fleet is not None
        text = self.fleet.inventory_yaml(name="slurm-lab")
        return text.replace("nodes:\n", f"slurm: {{via: {self.hosts[0].name}}}\nnodes:\n", 1)

    def job_state(self, job_id: str) -> str:
        return self.run("squeue", "-h", "-j", job_id, "-o", "%T").stdout.strip()

    def wait_job(self, job_id: str, state: str, timeout: float = READY_TIMEOUT_S) -> None:
        self._wait(lambda: self.job_state(job_id) == state, f"job {job_id} {state}",
                   self.dir / "log" / "slurmctld.log", timeout)  # fmt: skip

    def submit(self, *options: str, command: str = "sleep 3600") -> str:
        """sbatch as the lab user (in a directory it may write); the job id."""
        done = self.run(
            "sbatch", "--parsable", f"--chdir={self.dir}/spool", "--output=/dev/null", *options,
            f"--wrap={command}",
            user="lab", check=True,
        )  # fmt: skip
        return done.stdout.strip().split(";")[0]

    def scenario(self) -> dict[str, str]:
        """One job running on one GPU of h0, one pending (held), h1 draining under a running job, h2 drained
        with a reason. Returns the job ids and names of what it set up."""
        h0, h1, h2 = (host.name for host in self.hosts[:3])
        os.chmod(self.dir / "spool", 0o777)
        running = self.submit("-w", h0, "--gres=gpu:1", "-J", "train-gpu")
        self.wait_job(running, "RUNNING")
        busy = self.submit("-w", h1, "--gres=gpu:2", "-J", "eval-h1")
        self.wait_job(busy, "RUNNING")
        pending = self.submit("--hold", "--gres=gpu:1", "-J", "waiting")
        self.wait_job(pending, "PENDING")
        self.run("scontrol", "update", f"nodename={h1}", "state=drain", "reason=fan replaced soon",
                 user="lab", check=True)  # fmt: skip
        self.run(
            "scontrol", "update", f"nodename={h2}", "state=drain", "reason=bad DIMM", user="lab", check=True
        )
        self.wait_node(h1, lambda state: "drain" in state, what="draining")
        self.wait_node(h2, lambda state: state == "drained", what="drained")
        return {"running": running, "busy": busy, "pending": pending, "draining": h1, "drained": h2}

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        for process in reversed(self.processes):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        self._kill_steps()
        if self.fleet is not None:
            self.fleet.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _kill_steps(self) -> None:
        """slurmstepd and the job's processes leave slurmd's session: find them by the lab's spool path."""
        marker = str(self.dir).encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                cmdline = (entry / "cmdline").read_bytes()
                environ = (entry / "environ").read_bytes()
                if marker in cmdline or marker in environ:
                    os.kill(int(entry.name), signal.SIGKILL)
