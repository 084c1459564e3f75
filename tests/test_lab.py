"""The real-sshd lab is real: OpenSSH logins, the nvidia-smi replay, hung and dead ports, clean teardown."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import asyncssh
import pytest
import yaml

from tests.lab.availability import lab_unavailable
from tests.lab.sshd import (
    CAPTURE_DIR,
    LAB_HOME,
    LAB_USER,
    REPLAY_SCRIPT,
    LabError,
    LabNode,
    SshLab,
    user_processes,
)

FIELDS = (
    "index,uuid,name,driver_version,pci.bus_id,temperature.gpu,utilization.gpu,utilization.memory,"
    "memory.total,memory.used,memory.free,power.draw,power.limit,clocks.sm,clocks.mem,fan.speed,pstate,"
    "ecc.errors.uncorrected.volatile.total,compute_mode"
)
QUERY = f"nvidia-smi --query-gpu={FIELDS} --format=csv,noheader,nounits"
APPS = "pid,process_name,used_gpu_memory,gpu_uuid"
INVALID = "Invalid combination of input arguments. Please run 'nvidia-smi -h' for help.\n"


def capture(name: str) -> str:
    return (CAPTURE_DIR / name).read_text(encoding="utf-8")


async def run(lab: SshLab, node: LabNode, command: str) -> asyncssh.SSHCompletedProcess:
    async with asyncssh.connect(**lab.ssh_options(node)) as conn:
        return await conn.run(command, check=False, timeout=10)


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


# over SSH


async def test_query_gpu_returns_the_capture(ssh_lab: SshLab, gpu_node: LabNode) -> None:
    result = await run(ssh_lab, gpu_node, QUERY)
    assert result.exit_status == 0, result.stderr
    assert result.stdout == capture("idle-query-gpu-noheader-nounits.csv")
    assert result.stderr == ""


async def test_node_without_gpu_tooling_has_no_nvidia_smi(ssh_lab: SshLab, plain_node: LabNode) -> None:
    result = await run(ssh_lab, plain_node, "nvidia-smi")
    assert result.exit_status == 127
    assert "nvidia-smi: not found" in str(result.stderr)


async def test_logs_in_as_the_test_user_with_the_configured_environment(
    ssh_lab: SshLab, gpu_node: LabNode
) -> None:
    result = await run(ssh_lab, gpu_node, 'id -un; printf \'%s\\n\' "$HOME" "$PATH"; command -v nvidia-smi')
    assert result.exit_status == 0, result.stderr
    user, home, path, nvidia_smi = str(result.stdout).splitlines()
    assert user == LAB_USER
    assert home == LAB_HOME
    assert path == f"{gpu_node.bin_dir}:/usr/local/bin:/usr/bin:/bin"
    assert nvidia_smi == f"{gpu_node.bin_dir}/nvidia-smi"
    assert gpu_node.user == LAB_USER
    assert gpu_node.known_hosts_line() in ssh_lab.known_hosts_path.read_text(encoding="utf-8")


async def test_a_wrong_host_key_is_refused(ssh_lab: SshLab, gpu_node: LabNode, tmp_path: Path) -> None:
    wrong = ssh_lab.write_known_hosts(tmp_path / "wrong", [gpu_node], wrong_for=[gpu_node])
    assert gpu_node.host_key_public_line not in wrong.read_text(encoding="utf-8")
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await asyncssh.connect(**ssh_lab.ssh_options(gpu_node, known_hosts=str(wrong)))

    right = ssh_lab.write_known_hosts(tmp_path / "right", [gpu_node])
    async with asyncssh.connect(**ssh_lab.ssh_options(gpu_node, known_hosts=str(right))) as conn:
        assert (await conn.run("echo ok", check=True)).stdout == "ok\n"


async def test_loop_streams_rows_and_dies_with_its_channel(ssh_lab: SshLab) -> None:
    node = ssh_lab.start_node("streamer", gpu_capture="load")
    try:
        series = capture("load-query-gpu-series.csv").splitlines(keepends=True)
        async with asyncssh.connect(**ssh_lab.ssh_options(node)) as conn:
            # `echo $$` first: the command leads its own session, so its session id finds it and its `sleep`.
            proc = await conn.create_process(f"echo $$; exec {QUERY} -lms 200")
            session = int(await asyncio.wait_for(proc.stdout.readline(), 5))
            started = time.monotonic()
            rows = [await asyncio.wait_for(proc.stdout.readline(), 5) for _ in range(4)]
            assert rows == series[:4]  # the load capture, in order
            assert 0.4 < time.monotonic() - started < 4.0  # one row each 200 ms, not all at once
            assert user_processes(session=session), "the stream should still be running"

            proc.close()
            await proc.wait_closed()
            assert await eventually(lambda: not user_processes(session=session)), (
                f"still running after the channel closed: {user_processes(session=session)}"
            )
            assert (await conn.run("echo still-usable", check=True)).stdout == "still-usable\n"
    finally:
        node.stop()
    assert node.known_hosts_line() not in ssh_lab.known_hosts_path.read_text(encoding="utf-8")


async def test_freeze_hangs_the_node_and_thaw_recovers(ssh_lab: SshLab) -> None:
    node = ssh_lab.start_node("hangs", gpu_capture=None)
    try:
        async with asyncssh.connect(**ssh_lab.ssh_options(node)) as open_conn:
            node.freeze()
            try:
                started = time.monotonic()
                with pytest.raises(TimeoutError):
                    await asyncssh.connect(**ssh_lab.ssh_options(node, connect_timeout=1))
                assert time.monotonic() - started < 3
                # An already open connection hangs too: its sshd is stopped as well.
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(open_conn.run("true"), 0.5)
            finally:
                node.thaw()
            assert (await open_conn.run("echo back", check=True)).stdout == "back\n"
        async with asyncssh.connect(**ssh_lab.ssh_options(node, connect_timeout=5)) as conn:
            assert (await conn.run("echo thawed", check=True)).stdout == "thawed\n"
    finally:
        node.stop()


async def test_silent_and_dead_ports(ssh_lab: SshLab, gpu_node: LabNode) -> None:
    silent = ssh_lab.silent_port()
    with pytest.raises(TimeoutError):
        await asyncssh.connect(**ssh_lab.ssh_options(gpu_node, port=silent, connect_timeout=1))
    dead = ssh_lab.dead_port()
    with pytest.raises(ConnectionRefusedError):
        await asyncssh.connect(**ssh_lab.ssh_options(gpu_node, port=dead, connect_timeout=1))


@pytest.mark.lab
async def test_close_leaves_no_process_behind(tmp_path: Path) -> None:
    try:
        lab = SshLab(tmp_path / "lab")
    except LabError as exc:
        lab_unavailable("the real-sshd lab", exc)
    with lab:
        node = lab.start_node("doomed", gpu_capture="idle")
        sshd_pid = node.process.pid
        conn = await asyncssh.connect(**lab.ssh_options(node))
        proc = await conn.create_process(f"echo $$; exec {QUERY} -lms 100")
        session = int(await asyncio.wait_for(proc.stdout.readline(), 5))
        node.freeze()  # close() must cope with a frozen node too
        public_dir = lab.public_dir
    conn.abort()
    assert node.process.returncode is not None
    assert not Path(f"/proc/{sshd_pid}").exists()  # noqa: ASYNC240 (procfs, instant)
    assert await eventually(lambda: not user_processes(session=session))
    assert not public_dir.exists()


def test_inventory_yaml(ssh_lab: SshLab, gpu_node: LabNode, plain_node: LabNode) -> None:
    text = ssh_lab.inventory_yaml(
        [gpu_node, plain_node],
        name="lab fleet",
        gpus={"gpu1": {"count": 1, "model": "H100"}},
        extra_nodes="  ghost:\n    host: 127.0.0.1\n    ssh: {port: 1}\n",
    )
    inventory = yaml.safe_load(text)
    assert inventory["version"] == 1
    assert inventory["name"] == "lab fleet"
    assert inventory["defaults"] == {
        "ssh": {
            "user": LAB_USER,
            "identity_file": str(ssh_lab.client_key_path),
            "known_hosts": str(ssh_lab.known_hosts_path),
            "connect_timeout": 5,
        },
        "refresh": 1,
    }
    assert inventory["nodes"] == {
        "gpu1": {"host": "127.0.0.1", "ssh": {"port": gpu_node.port}, "gpus": {"count": 1, "model": "H100"}},
        "plain1": {"host": "127.0.0.1", "ssh": {"port": plain_node.port}},
        "ghost": {"host": "127.0.0.1", "ssh": {"port": 1}},
    }
    assert ssh_lab.client_key_path.stat().st_mode & 0o777 == 0o600


# the replay itself, run locally


QUERY_GPU = f"--query-gpu={FIELDS}"
QUERY_APPS = f"--query-compute-apps={APPS}"
CSV = "--format=csv"
BARE = "--format=csv,noheader,nounits"
REPLAY_ENV = {"PATH": "/usr/bin:/bin", "NVIDIA_SMI_REPLAY_DIR": str(CAPTURE_DIR)}


def replay(capture_set: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", str(REPLAY_SCRIPT), *args],
        env={**REPLAY_ENV, "NVIDIA_SMI_REPLAY_CAPTURE": capture_set},
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )


@pytest.mark.parametrize(
    ("capture_set", "args", "expected"),
    [
        ("idle", [], capture("idle-nvidia-smi.txt")),
        ("load", [], capture("load-nvidia-smi.txt")),
        ("idle", ["-L"], capture("nvidia-smi-L.txt")),
        ("idle", ["-q", "-x"], capture("idle-nvidia-smi-q.xml")),
        ("load", ["-q", "-x"], capture("load-nvidia-smi-q.xml")),
        ("idle", [QUERY_GPU, CSV], capture("idle-query-gpu.csv")),
        ("idle", [QUERY_GPU, BARE], capture("idle-query-gpu-noheader-nounits.csv")),
        ("load", [QUERY_GPU, BARE], capture("load-query-gpu-series.csv").splitlines(keepends=True)[0]),
        ("load", [QUERY_APPS, CSV], capture("load-compute-apps.csv")),
        ("load", [QUERY_APPS, BARE], "618, python3, 21610, GPU-862d267a-20ce-32e4-f9da-22573272ba66\n"),
        ("idle", [QUERY_APPS, CSV], "pid, process_name, used_gpu_memory [MiB], gpu_uuid\n"),
        ("idle", [QUERY_APPS, BARE], ""),
    ],
)
def test_replay_serves_the_captures(capture_set: str, args: list[str], expected: str) -> None:
    result = replay(capture_set, *args)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--bogus"], INVALID),
        (["-L", "-q"], INVALID),
        ([QUERY_GPU], INVALID),
        ([QUERY_GPU, CSV, "-lms", "0"], INVALID),
        (["--query-gpu=index,name", BARE], 'Field "index,name" is not a valid field to query.\n'),
        (["--query-compute-apps=pid", CSV], 'Field "pid" is not a valid field to query.\n'),
    ],
)
def test_replay_fails_like_the_real_tool(args: list[str], expected: str) -> None:
    result = replay("idle", *args)
    assert result.returncode == 2
    assert result.stdout == expected


def test_replay_loop_cycles_through_the_load_series() -> None:
    series = capture("load-query-gpu-series.csv").splitlines(keepends=True)
    env = {
        "PATH": "/usr/bin:/bin",
        "NVIDIA_SMI_REPLAY_DIR": str(CAPTURE_DIR),
        "NVIDIA_SMI_REPLAY_CAPTURE": "load",
    }
    with subprocess.Popen(
        [
            "/bin/sh",
            str(REPLAY_SCRIPT),
            f"--query-gpu={FIELDS}",
            "--format=csv,noheader,nounits",
            "-lms",
            "10",
        ],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        rows = [proc.stdout.readline() for _ in range(len(series) + 2)]
        proc.stdout.close()  # the reader goes away: the replay must notice and exit
        assert proc.wait(timeout=5) != 0
    assert rows == [*series, *series[:2]]
