"""SSHTransport against a real OpenSSH sshd on 127.0.0.1 (tests/lab)."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.collectors.gpu import collect_gpus
from console.inventory.model import Node, SSHSettings
from console.transport import (
    CommandTimeout,
    ConnectError,
    HostKeyError,
    LocalTransport,
    SSHTransport,
    TransportError,
)
from console.transport.readonly import ReadOnlyTransport
from tests.lab.models import lab_node_model
from tests.lab.sshd import LabNode, SshLab


def lab_node(lab: SshLab, node: LabNode, **ssh: object) -> Node:
    return lab_node_model(lab, node, ssh=ssh)


async def test_one_connection_is_reused_for_every_command(ssh_lab: SshLab, gpu_node: LabNode) -> None:
    transport = SSHTransport(lab_node(ssh_lab, gpu_node))
    try:
        first = await transport.run("echo $SSH_CONNECTION; id -un")
        second = await transport.run("echo $SSH_CONNECTION")
        assert first.ok
        assert first.stdout.splitlines()[1] == "opsconsole-lab"
        # Same client port means the same TCP connection: no reconnect per command.
        assert first.stdout.splitlines()[0] == second.stdout.strip()
        assert first.duration_s >= 0
    finally:
        await transport.close()


async def test_result_carries_exit_code_and_stderr(ssh_lab: SshLab, gpu_node: LabNode) -> None:
    transport = SSHTransport(lab_node(ssh_lab, gpu_node))
    try:
        result = await transport.run("echo out; echo err >&2; exit 7")
        assert (result.exit_status, result.stdout, result.stderr) == (7, "out\n", "err\n")
    finally:
        await transport.close()


async def test_hung_command_is_cut_at_our_deadline_and_the_connection_survives(
    ssh_lab: SshLab, gpu_node: LabNode
) -> None:
    transport = SSHTransport(lab_node(ssh_lab, gpu_node))
    try:
        with pytest.raises(CommandTimeout, match=r"still running after 0\.5s"):
            await transport.run("sleep 30", timeout=0.5)
        assert (await transport.run("echo still here")).stdout == "still here\n"
    finally:
        await transport.close()


async def test_gpu_collector_over_ssh_reads_the_replayed_h100(ssh_lab: SshLab, gpu_node: LabNode) -> None:
    # The node's nvidia-smi is the recorded stand-in replaying a real H100 capture (no GPU on test machines).
    transport = SSHTransport(lab_node(ssh_lab, gpu_node))
    try:
        snapshot = await collect_gpus(transport)
    finally:
        await transport.close()
    assert snapshot.status == "ok"
    assert snapshot.source == "nvidia-smi"
    (gpu,) = snapshot.gpus
    assert gpu.name == "NVIDIA H100 80GB HBM3"
    assert gpu.memory_total_mib == 81559
    assert gpu.fan_pct is None


async def test_node_without_nvidia_smi_says_no_gpu_tooling(ssh_lab: SshLab, plain_node: LabNode) -> None:
    transport = SSHTransport(lab_node(ssh_lab, plain_node))
    try:
        snapshot = await collect_gpus(transport)
    finally:
        await transport.close()
    assert snapshot.status == "no_tooling"
    assert snapshot.error == "no GPU tooling: nvidia-smi not found"


async def test_wrong_host_key_is_refused(ssh_lab: SshLab, gpu_node: LabNode, tmp_path: Path) -> None:
    known_hosts = ssh_lab.write_known_hosts(tmp_path / "known_hosts", [gpu_node], wrong_for=[gpu_node])
    transport = SSHTransport(lab_node(ssh_lab, gpu_node, known_hosts=str(known_hosts)))
    with pytest.raises(HostKeyError, match="does NOT match"):
        await transport.connect()
    assert not transport.connected


async def test_unknown_host_key_is_refused_by_default(
    ssh_lab: SshLab, gpu_node: LabNode, tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    transport = SSHTransport(lab_node(ssh_lab, gpu_node, known_hosts=str(empty)))
    with pytest.raises(HostKeyError, match="unknown host key"):
        await transport.connect()
    assert empty.read_text() == ""


async def test_missing_known_hosts_is_refused(ssh_lab: SshLab, gpu_node: LabNode, tmp_path: Path) -> None:
    transport = SSHTransport(lab_node(ssh_lab, gpu_node, known_hosts=str(tmp_path / "nope")))
    with pytest.raises(HostKeyError, match="does not exist"):
        await transport.connect()


async def test_accept_new_records_a_new_key_but_never_a_changed_one(
    ssh_lab: SshLab, gpu_node: LabNode, tmp_path: Path
) -> None:
    known_hosts = tmp_path / "known_hosts"
    transport = SSHTransport(
        lab_node(ssh_lab, gpu_node, known_hosts=str(known_hosts), host_key_policy="accept-new")
    )
    try:
        assert (await transport.run("true")).ok
    finally:
        await transport.close()
    assert known_hosts.read_text().strip() == gpu_node.known_hosts_line().strip()

    wrong = ssh_lab.write_known_hosts(tmp_path / "wrong", [gpu_node], wrong_for=[gpu_node])
    before = wrong.read_text()
    strict = SSHTransport(lab_node(ssh_lab, gpu_node, known_hosts=str(wrong), host_key_policy="accept-new"))
    with pytest.raises(HostKeyError, match="does NOT match"):
        await strict.connect()
    assert wrong.read_text() == before


async def test_refused_port_fails_fast_and_backs_off(ssh_lab: SshLab, gpu_node: LabNode) -> None:
    node = lab_node(ssh_lab, gpu_node, port=ssh_lab.dead_port())
    transport = SSHTransport(node)
    with pytest.raises(ConnectError, match="connection refused"):
        await transport.connect()
    # Within the backoff window a dead node costs nothing: the last error comes back without a new attempt.
    with pytest.raises(ConnectError, match="next try in"):
        await transport.connect()


async def test_silent_server_times_out_at_the_connect_timeout(ssh_lab: SshLab, gpu_node: LabNode) -> None:
    transport = SSHTransport(lab_node(ssh_lab, gpu_node, port=ssh_lab.silent_port(), connect_timeout=1))
    with pytest.raises(ConnectError, match="timed out after 1s"):
        await transport.connect()


async def test_reconnects_after_the_node_comes_back(ssh_lab: SshLab) -> None:
    node = ssh_lab.start_node("bouncer", gpu_capture=None)
    transport = SSHTransport(lab_node(ssh_lab, node, connect_timeout=1))
    try:
        assert (await transport.run("true")).ok
        node.freeze()
        with pytest.raises((CommandTimeout, ConnectError)):
            await transport.run("true", timeout=1)
        node.thaw()
        assert (await transport.run("echo back", timeout=5)).stdout == "back\n"
        await transport.close()
        assert not transport.connected
        assert (await transport.run("echo again")).stdout == "again\n"  # a fresh connection after close
    finally:
        await transport.close()
        node.stop()


async def test_many_commands_at_once_share_the_connection(ssh_lab: SshLab, gpu_node: LabNode) -> None:
    transport = SSHTransport(lab_node(ssh_lab, gpu_node))
    try:
        results = await asyncio.gather(*(transport.run(f"echo {i}") for i in range(8)))
        assert [r.stdout.strip() for r in results] == [str(i) for i in range(8)]
    finally:
        await transport.close()


async def test_unix_socket_and_tcp_streams_through_the_connection(ssh_lab: SshLab, gpu_node: LabNode) -> None:
    transport = SSHTransport(lab_node(ssh_lab, gpu_node))
    try:
        reader, writer = await transport.open_tcp(
            "127.0.0.1", gpu_node.port
        )  # direct-tcpip to the node's sshd
        banner = await asyncio.wait_for(reader.read(64), 5)
        writer.close()
        assert banner.startswith(b"SSH-2.0-OpenSSH")
    finally:
        await transport.close()


async def test_tcp_and_unix_forwards_reach_the_node(ssh_lab: SshLab, gpu_node: LabNode) -> None:
    transport = SSHTransport(lab_node(ssh_lab, gpu_node))
    server = None
    try:
        port = await transport.forward_tcp("127.0.0.1", gpu_node.port)
        assert await transport.forward_tcp("127.0.0.1", gpu_node.port) == port  # reused, not re-forwarded
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert (await asyncio.wait_for(reader.read(64), 5)).startswith(b"SSH-2.0-OpenSSH")
        writer.close()

        # A unix socket on the node, served by the lab user's own process, reached through a local path.
        remote = f"/tmp/opsconsole-fwd-{gpu_node.port}.sock"
        serve = (
            f'exec /usr/bin/python3 -c \'import os,socket;p="{remote}";'
            "os.path.exists(p) and os.unlink(p);s=socket.socket(socket.AF_UNIX);s.bind(p);s.listen();"
            'print("ready",flush=True);c,_=s.accept();c.sendall(b"hello from the node");c.close()\''
        )
        conn = await transport.connection()
        server = await conn.create_process(serve)
        assert (await asyncio.wait_for(server.stdout.readline(), 5)).strip() == "ready"
        local = await transport.forward_unix_socket(remote)
        assert os.stat(os.path.dirname(local)).st_mode & 0o077 == 0  # nobody else can use the forward
        reader, writer = await asyncio.open_unix_connection(local)
        assert await asyncio.wait_for(reader.read(64), 5) == b"hello from the node"
        writer.close()
    finally:
        if server is not None:
            server.close()
        await transport.close()


async def test_connect_time_is_the_handshake_not_the_reuse(ssh_lab: SshLab, gpu_node: LabNode) -> None:
    transport = SSHTransport(lab_node(ssh_lab, gpu_node))
    assert (transport.connect_seconds, transport.connected_at) == (None, None)
    try:
        before = datetime.now(UTC)
        await transport.connect()
        seconds, at = transport.connect_seconds, transport.connected_at
        assert seconds is not None
        assert seconds > 0
        assert at is not None
        assert before <= at <= datetime.now(UTC)  # aware UTC: comparing with a naive one would raise
        await transport.run("true")  # reuse: neither changes
        assert (transport.connect_seconds, transport.connected_at) == (seconds, at)
    finally:
        await transport.close()
    assert transport.connected_at is None  # no connection, no age
    assert transport.connect_seconds == seconds  # the last handshake is still what it was


def test_local_transport_has_no_handshake() -> None:
    local = LocalTransport("here")
    assert (local.connect_seconds, local.connected_at) == (None, None)
    assert ReadOnlyTransport(local).connect_seconds is None


async def test_a_command_with_a_nul_is_refused_before_it_reaches_sshd(
    ssh_lab: SshLab, gpu_node: LabNode
) -> None:
    # sshd runs the command as a C string: `echo a\0; touch x` would run as `echo a`, not what was judged.
    transport = SSHTransport(lab_node(ssh_lab, gpu_node))
    try:
        with pytest.raises(TransportError, match="NUL"):
            await transport.run("echo a\0; echo b")
        with pytest.raises(TransportError, match="NUL"):
            await transport.open_stream("echo a\0")
    finally:
        await transport.close()


async def test_an_ssh_servers_disconnect_reason_is_cleaned(tmp_path: Path) -> None:
    """The reason a server gives when it hangs up is its text: in the error (a power cell, a check line, a
    notification) its escapes are shown, never sent to the terminal."""
    import asyncssh

    class HangsUp(asyncssh.SSHServer):
        def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
            self.conn = conn

        def begin_auth(self, username: str) -> bool:
            self.conn.disconnect(asyncssh.DISC_BY_APPLICATION, "bye\x1b]0;pwned\x07\x1b[2J")
            return True

    key = asyncssh.generate_private_key("ssh-ed25519")
    server = await asyncssh.create_server(HangsUp, "127.0.0.1", 0, server_host_keys=[key])
    port = server.sockets[0].getsockname()[1]
    ssh = SSHSettings(port=port, host_key_policy="accept-new", known_hosts=str(tmp_path / "known_hosts"))
    transport = SSHTransport(Node("hostile", "127.0.0.1", ssh=ssh))
    try:
        with pytest.raises(TransportError) as caught:
            await transport.run("true", timeout=5)
    finally:
        await transport.close()
        server.close()
    message = str(caught.value)
    assert "bye" in message
    assert "\x1b" not in message
    assert "\x07" not in message
