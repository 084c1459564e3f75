"""The read-only handle of `--check`: the command allowlist and the Docker API filter, against real servers.

Real sshd lab nodes (commands run as the lab user), the real dockerd lab (`docker_lab`), the FUSE/NFS mount
lab; nothing is mocked. Every refusal is shown next to a control that proves the same thing would have worked
without the read-only handle.
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import re
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.actions import AuditLog
from console.actions.docker import restart_container, tail_logs
from console.checks.model import Status
from console.checks.node_rules import evaluate_node_facts
from console.checks.runner import run_checks
from console.collectors import docker, gpu, listeners, mounts
from console.collectors.docker import close_docker_clients, collect_docker, watch_events
from console.collectors.gpu import collect_gpus
from console.collectors.node_facts import collect_node_facts, facts_command
from console.inventory import load_inventory
from console.inventory.model import DockerSettings, MountSpec, Node, SshdPolicy, StorageSpec
from console.streams.source import StreamingSource
from console.transport.local import LocalTransport
from console.transport.readonly import ReadOnlyTransport, ReadOnlyViolation, is_read_only
from console.transport.ssh import SSHTransport
from tests.lab.common import LAB_USER
from tests.lab.docker_fixtures import DockerLab
from tests.lab.models import lab_node_model
from tests.lab.nfs import NfsServer
from tests.lab.nfs_fixtures import MountLab
from tests.lab.sshd import LabNode, SshLab

ROOT = Path(__file__).resolve().parent.parent
STABLE = ("web", "public", "done", "sick", "warming")  # `crash` restarts by itself: compared by id only


@pytest.fixture
def lab_dir() -> Iterator[Path]:
    """A directory the lab user may write in (so a refused write is refused by us, not by the kernel)."""
    path = Path(tempfile.mkdtemp(prefix="opsconsole-ro-test-"))
    user = pwd.getpwnam(LAB_USER)
    os.chown(path, user.pw_uid, user.pw_gid)
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


# -- the allowlist, on the exact commands the collectors build --------------------------------------------


def test_the_collectors_commands_are_registered_reads() -> None:
    node = Node("n", "h", sshd=SshdPolicy(), storage=(StorageSpec("/srv/it's a dir\n"), StorageSpec("/-x")))
    facts = facts_command(node)
    assert facts is not None
    rpc = mounts._RPC_SCRIPT.format(limit=mounts.RPC_TOOL_TIMEOUT_S, host=shlex.quote("atlas.lan"))
    for command in (
        gpu.POLL_COMMAND,
        listeners.LISTENERS_COMMAND,
        mounts.MOUNTINFO_COMMAND,
        docker.HOST_PROBE,
        mounts.probe_command("/mnt/atlas/scratch space", timeout=5),
        mounts.probe_command("/mnt/$(reboot)';reboot;'", timeout=2.5),
        f"LC_ALL=C sh -c {shlex.quote(rpc)}",
        facts,
    ):
        assert is_read_only(command), command[:80]


@pytest.mark.parametrize(
    "command",
    [
        "touch /tmp/x",
        "rm -rf /tmp/x",
        gpu.POLL_COMMAND + "; touch /tmp/x",
        mounts.MOUNTINFO_COMMAND + " && rm -rf /tmp/x",
        mounts.MOUNTINFO_COMMAND + "\ntouch /tmp/x",
        mounts.probe_command("/mnt/a", timeout=5, state_dir="/etc"),  # bookkeeping only in its own dir
        mounts.probe_command("/mnt/a", timeout=5) + " extra",
        mounts.probe_command("/mnt/a", timeout=5).replace("/mnt/a", "/mnt/$(touch /tmp/x)"),
        "LC_ALL=C sh -c " + shlex.quote(mounts._RPC_SCRIPT.format(limit=2, host="x; touch /tmp/x")),
        "LC_ALL=C sh -c 'touch /tmp/x' opsconsole-node-facts - /srv",
        "s=/var/run/docker.sock$(touch /tmp/x); id -un",
    ],
)
def test_anything_else_is_refused(command: str) -> None:
    assert not is_read_only(command)


def test_node_facts_command_holes_take_data_only() -> None:
    facts = facts_command(Node("n", "h", storage=(StorageSpec("/srv/a b"),)))
    assert facts is not None
    assert is_read_only(facts)
    assert not is_read_only(facts.replace("'/srv/a b'", "/srv/`touch /tmp/x`"))
    assert not is_read_only(facts.replace("'/srv/a b'", "relative"))
    assert not is_read_only(facts.replace(" - ", " root "))


# -- commands over a real sshd -------------------------------------------------------------------------------


async def test_reads_run_and_writes_never_reach_the_node(
    ssh_lab: SshLab, gpu_node: LabNode, lab_dir: Path
) -> None:
    model = lab_node_model(ssh_lab, gpu_node, sshd=SshdPolicy(), storage=(StorageSpec(str(lab_dir)),))
    inner = SSHTransport(model)
    handle = ReadOnlyTransport(inner)
    try:
        gpus = await collect_gpus(handle, timeout=5)
        assert (gpus.status, len(gpus.gpus)) == ("ok", 1)
        facts = await collect_node_facts(handle, model, timeout=10)
        assert facts.error is None
        assert facts.storage[0].kind == "directory"
        assert (await handle.run(listeners.LISTENERS_COMMAND)).ok

        target = lab_dir / "x"
        with pytest.raises(ReadOnlyViolation, match="refused to run 'touch"):
            await handle.run(f"touch {target}")
        assert not target.exists()
        assert (await inner.run(f"touch {target}")).ok  # control: the lab user may write there
        assert target.exists()
        with pytest.raises(ReadOnlyViolation):
            await handle.run(f"rm -f {target}")
        with pytest.raises(ReadOnlyViolation):
            await handle.run(f"{mounts.MOUNTINFO_COMMAND}; rm -f {target}")
        assert target.exists()
    finally:
        await handle.close()


async def test_mount_probes_and_nfs_details_pass(
    ssh_lab: SshLab, mount_lab: MountLab, nfs_server: NfsServer
) -> None:
    specs = (MountSpec(mount_lab.models.mountpoint, "127.0.0.1:/export/models", "ro", "fuse.nfs4"),)
    handle = ReadOnlyTransport(SSHTransport(lab_node_model(ssh_lab, mount_lab.node, mounts=specs)))
    try:
        snapshot = await mounts.collect_mounts(handle, specs, timeout=5)
    finally:
        await handle.close()
    assert snapshot.error is None
    (status,) = snapshot.mounts
    assert (status.responsive, status.server) == ("ok", "reachable")
    assert status.server_detail is not None
    assert "rpcinfo" in status.server_detail  # the rpcinfo/showmount script ran, through the allowlist


# -- the Docker API filter ----------------------------------------------------------------------------------


async def http(path: str, raw: bytes) -> tuple[list[tuple[int, dict[str, str], bytes]], bool]:
    """Send raw bytes on a fresh unix-socket connection; every response until close or 2 s of silence."""
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(raw)
    await writer.drain()
    responses: list[tuple[int, dict[str, str], bytes]] = []
    methods = re.findall(rb"(?:^|\r\n\r\n)([A-Z]+) /", raw)
    closed = False
    try:
        while True:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=2)
            except asyncio.IncompleteReadError:
                closed = True
                break
            except TimeoutError:
                break
            lines = head.decode("latin-1").split("\r\n")
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in lines[1:] if line)
            }
            body = b""
            if methods[len(responses) : len(responses) + 1] == [b"HEAD"]:
                pass
            elif "content-length" in headers:
                body = await reader.readexactly(int(headers["content-length"]))
            elif headers.get("transfer-encoding") == "chunked":
                while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                    body += (await reader.readexactly(size + 2))[:-2]
                await reader.readuntil(b"\r\n")
            responses.append((int(lines[0].split()[1]), headers, body))
    finally:
        writer.close()
    return responses, closed


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def request(method: str, path: str, extra: str = "", body: bytes = b"") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: docker\r\n{extra}\r\n".encode() + body


async def test_filter_passes_reads_keeps_alive_and_refuses_the_rest(docker_lab: DockerLab) -> None:
    handle = ReadOnlyTransport(LocalTransport("docker-lab"))
    try:
        proxy = await handle.forward_unix_socket(docker_lab.socket)
        assert proxy != docker_lab.socket
        assert os.stat(os.path.dirname(proxy)).st_mode & 0o777 == 0o700
        # Keep-alive and pipelining: three reads in one write, three answers in order, connection open.
        raw = request("GET", "/_ping") + request("HEAD", "/_ping") + request("GET", "/containers/json?all=1")
        answers, closed = await http(proxy, raw)
        assert [status for status, _, _ in answers] == [200, 200, 200]
        assert answers[0][2] == b"OK"
        assert {c["Names"][0] for c in json.loads(answers[2][2])} >= {"/web", "/crash"}
        assert not closed

        refused = [
            request("POST", "/containers/web/restart"),
            request("DELETE", "/containers/done"),
            request("GET", "/containers/json", "Content-Length: 4\r\n", b"null"),
            request(
                "GET", "/containers/web/attach/ws?stream=1", "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            ),
        ]
        for raw in refused:
            answers, closed = await http(proxy, raw)
            (status, headers, body), *_ = answers
            assert (status, headers["connection"], closed) == (403, "close", True), raw
            assert "read-only" in json.loads(body)["message"]
        # A request hidden behind bare line feeds (what a lenient parser reads as two) is not passed on.
        answers, _ = await http(
            proxy, b"GET /_ping HTTP/1.1\nHost: x\n\nPOST /containers/web/stop HTTP/1.1\r\n\r\n"
        )
        assert answers[0][0] == 400
        # Control: the refusals are the filter's own; dockerd would have acted on the POST (404: no such one).
        direct, _ = await http(docker_lab.socket, request("POST", "/containers/opsconsole-nosuch/restart"))
        via, _ = await http(proxy, request("POST", "/containers/opsconsole-nosuch/restart"))
        assert (direct[0][0], via[0][0]) == (404, 403)
    finally:
        await handle.close()
    assert not Path(proxy).parent.exists()  # the private directory went with the handle


def docker_state(lab: DockerLab) -> dict[str, object]:
    state: dict[str, object] = {}
    for container in lab.main.api("GET", "/containers/json?all=1"):
        name = container["Names"][0].lstrip("/")
        if name in STABLE:
            inspected = lab.main.inspect(name)
            state[name] = (container["Id"], inspected["State"]["Status"], inspected["State"]["StartedAt"],
                           inspected["RestartCount"])  # fmt: skip
        else:
            state[name] = container["Id"]
    return state


async def test_docker_through_ssh_reads_but_cannot_restart(
    ssh_lab: SshLab, plain_node: LabNode, docker_lab: DockerLab, tmp_path: Path
) -> None:
    model = lab_node_model(
        ssh_lab, plain_node, docker=DockerSettings(socket=docker_lab.socket, containers=("web",))
    )
    handle = ReadOnlyTransport(SSHTransport(model))
    before = docker_state(docker_lab)
    try:
        snapshot = await collect_docker(handle, model)
        assert snapshot.error is None
        assert snapshot.engine is not None
        web = next(c for c in snapshot.containers if c.name == "web")
        assert web.state == "running"

        audit = AuditLog(tmp_path / "audit.jsonl")
        result = await restart_container(handle, model, "web", audit=audit, confirmed=True)
        assert not result.ok
        assert result.detail.startswith("Docker API error 403: opsconsole read-only mode: POST")

        # Long-lived streaming GETs pass, chunk by chunk: the event stream and a followed log.
        events = watch_events(handle, model, since=datetime(2020, 1, 1, tzinfo=UTC))
        first = await asyncio.wait_for(anext(events), timeout=10)
        assert first["Type"] == "container"
        await events.aclose()
        logs = tail_logs(handle, model, "web", lines=1, follow=True)
        assert await asyncio.wait_for(anext(logs), timeout=10)
        await logs.aclose()
    finally:
        await close_docker_clients(handle)
        await handle.close()
    assert docker_state(docker_lab) == before


async def test_docker_socket_trouble_is_still_diagnosed(
    ssh_lab: SshLab, plain_node: LabNode, docker_lab: DockerLab
) -> None:
    # The diagnosis runs a shell probe on the node: it must be on the allowlist, or this would raise.
    for socket, expected in (
        ("/nonexistent/docker.sock", "no Docker socket at /nonexistent/docker.sock"),
        (docker_lab.denied_socket, f"permission denied on {docker_lab.denied_socket}"),
    ):
        model = lab_node_model(ssh_lab, plain_node, docker=DockerSettings(socket=socket))
        handle = ReadOnlyTransport(SSHTransport(model))
        try:
            snapshot = await collect_docker(handle, model, timeout=5)
        finally:
            await close_docker_clients(handle)
            await handle.close()
        assert snapshot.error is not None
        assert snapshot.error.startswith(expected), snapshot.error


async def test_a_client_that_goes_away_ends_its_stream(docker_lab: DockerLab) -> None:
    handle = ReadOnlyTransport(LocalTransport("docker-lab"))
    try:
        proxy = await handle.forward_unix_socket(docker_lab.socket)
        reader, writer = await asyncio.open_unix_connection(proxy)
        writer.write(request("GET", "/events?since=0"))
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        filtering = handle._proxies[docker_lab.socket]
        assert len(filtering._handlers) == 1
        writer.close()
        assert await eventually(lambda: not filtering._handlers)  # the endless upstream GET /events ended
    finally:
        await handle.close()


# -- the headline: `--check` against the lab leaves the node as it found it ----------------------------------


def tree(root: Path) -> list[tuple[object, ...]]:
    """Every entry below root with what a write would change (access times aside: reading sets those)."""
    entries = []
    for directory, dirs, files in os.walk(root):
        for name in [".", *dirs, *files]:
            path = os.path.join(directory, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            entries.append(
                (rel, st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            )
    return sorted(entries)


@pytest.fixture
def watched() -> Iterator[Path]:
    """The storage an inventory points at: ComfyUI-style directories with files, readable by the lab user."""
    root = Path(tempfile.mkdtemp(prefix="opsconsole-watched-"))
    os.chmod(root, 0o755)
    lab_user = pwd.getpwnam(LAB_USER).pw_uid
    for name, owner, mode in (("models", 1024, 0o775), ("output", 0, 0o755), ("scratch", lab_user, 0o755)):
        (root / name).mkdir()
        (root / name / "sd_xl_base.safetensors").write_bytes(b"\0" * 1024)
        os.chown(root / name, owner, owner)
        os.chmod(root / name, mode)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def headline_inventory(lab: SshLab, node: LabNode, docker_lab: DockerLab, root: Path, path: Path) -> Path:
    text = lab.inventory_yaml([node], gpus={node.name: {"count": 1, "driver": "580"}})
    text += (
        "    power_budget_w: 700\n"
        "    sshd: {}\n"
        f"    docker: {{socket: '{docker_lab.socket}', containers: [web]}}\n"
        "    mounts: [{path: /}]\n"
        "    storage:\n"
        f"      - {{path: '{root}/models', owner: '1024:1024', mode: '775'}}\n"
        f"      - {{path: '{root}/output', owner: '1024:1024'}}\n"
        f"      - {{path: '{root}/missing'}}\n"
        f"      - {{path: '{root}/scratch'}}\n"
    )
    path.write_text(text)
    return path


async def test_check_run_changes_nothing_on_the_node(
    ssh_lab: SshLab, gpu_node: LabNode, docker_lab: DockerLab, watched: Path, tmp_path: Path
) -> None:
    inventory_path = headline_inventory(ssh_lab, gpu_node, docker_lab, watched, tmp_path / "lab.yaml")
    files, containers = tree(watched), docker_state(docker_lab)

    # The CLI, as cron runs it.
    done = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "console", "-i", str(inventory_path), "--check", "--format", "json",
        "--timeout", "30", cwd=ROOT, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(done.communicate(), timeout=60)
    assert err == b""
    report = json.loads(out)
    assert "errors" not in report
    checks = {(r["check"], r["target"]): r["status"] for r in report["results"]}
    assert checks[("ssh.reachable", None)] == "ok"
    assert checks[("gpu.driver", None)] == "ok"
    assert checks[("docker.engine", None)] == "ok"
    assert checks[("container.running", "web")] == "ok"

    # What `--check` runs, as it runs it (the one-shot source, read-only handles), then node facts and Docker.
    inventory = load_inventory(str(inventory_path))
    node = inventory.node(gpu_node.name)
    source = StreamingSource(inventory, one_shot=True, read_only=True)
    handle = source.transports[node.name]
    assert isinstance(handle, ReadOnlyTransport)
    try:
        wired = await run_checks(inventory, source, timeout=30)
        facts = await collect_node_facts(handle, node, timeout=10)
        engine = await collect_docker(handle, node)
    finally:
        await close_docker_clients(handle)
        await source.close()
    assert wired.errors == ()
    wired_checks = {(r.check, r.target): r.status for r in wired.results}
    assert wired_checks[("docker.engine", None)] is Status.OK  # the Docker API, through the filter
    assert wired_checks[("container.running", "web")] is Status.OK
    assert {"gpu.ecc", "gpu.power", "nfs.responsive"} <= {check for check, _ in wired_checks}
    assert engine.error is None
    results = {(r.check, r.target): r.status for r in evaluate_node_facts(node, facts)}
    assert results[("storage.ownership", f"{watched}/models")] is Status.OK
    assert results[("storage.ownership", f"{watched}/output")] is Status.CRITICAL
    assert results[("storage.layout", f"{watched}/missing")] is Status.CRITICAL
    assert results[("ssh.root_login", None)] is not Status.UNKNOWN

    assert tree(watched) == files
    assert docker_state(docker_lab) == containers
    # Control: the same node's unrestricted connection can write there, and the comparison sees it.
    touch = f"touch {watched}/scratch/new"
    raw, handle = SSHTransport(node), ReadOnlyTransport(SSHTransport(node))
    try:
        with pytest.raises(ReadOnlyViolation):
            await handle.run(touch)
        assert tree(watched) == files
        assert (await raw.run(touch)).ok
    finally:
        await raw.close()
        await handle.close()
    assert tree(watched) != files


async def test_streams_through_the_read_only_handle_are_checked_too(
    ssh_lab: SshLab, gpu_node: LabNode
) -> None:
    transport = ReadOnlyTransport(SSHTransport(lab_node_model(ssh_lab, gpu_node)))
    try:
        with pytest.raises(ReadOnlyViolation):
            await transport.open_stream("touch /tmp/opsconsole-readonly-stream")
    finally:
        await transport.close()
    assert not os.path.exists("/tmp/opsconsole-readonly-stream")  # noqa: ASYNC240
