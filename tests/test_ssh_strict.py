"""SSH as strict as OpenSSH, against real sshd with a real ~/.ssh/config and known_hosts in the test's HOME.

- Host keys are looked up, recorded and reported under the names ~/.ssh/config resolves to (HostName, Port,
  HostKeyAlias), so an alias never lets accept-new add a key that contradicts the real host's entry.
- A jump host, given as text in the inventory or as ProxyJump in ~/.ssh/config, is verified against the
  inventory's known_hosts under its host_key_policy; a failure names the jump host and that file.
- `ForwardAgent yes` in ~/.ssh/config never forwards the agent (shown next to plain asyncssh, which does).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import asyncssh
import pytest

from console.inventory.model import Inventory, Node
from console.transport import ConnectError, HostKeyError, SSHTransport, transports_for
from tests.lab.models import lab_node_model
from tests.lab.sshd import LabNode, SshLab


def ssh_config(home: Path, text: str) -> Path:
    """The real ~/.ssh/config of the test's isolated HOME (asyncssh reads it as OpenSSH would)."""
    path = home / ".ssh" / "config"
    path.parent.mkdir(mode=0o700, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def aliased(lab: SshLab, node: LabNode, alias: str, known_hosts: Path | str, policy: str = "strict") -> Node:
    """The inventory names the node only by its alias: host and port come from ~/.ssh/config."""
    ssh = {"port": None, "known_hosts": str(known_hosts), "host_key_policy": policy}
    return replace(lab_node_model(lab, node, ssh=ssh), host=alias)


@pytest.mark.parametrize("policy", ["accept-new", "strict"])
async def test_an_alias_whose_real_host_has_another_key_is_refused_as_a_mismatch(
    ssh_lab: SshLab, gpu_node: LabNode, isolated_home: Path, policy: str
) -> None:
    ssh_config(isolated_home, f"Host gpu-alias\n  HostName {gpu_node.host}\n  Port {gpu_node.port}\n")
    # The inventory's default, ~/.ssh/known_hosts, in the test's own HOME.
    known = ssh_lab.write_known_hosts(
        isolated_home / ".ssh" / "known_hosts", [gpu_node], wrong_for=[gpu_node]
    )
    before = known.read_text()
    transport = SSHTransport(aliased(ssh_lab, gpu_node, "gpu-alias", "~/.ssh/known_hosts", policy))
    with pytest.raises(HostKeyError) as refused:
        await transport.connect()
    message = str(refused.value)
    assert "does NOT match" in message
    assert f"[{gpu_node.host}]:{gpu_node.port}" in message  # the name actually looked up, not the alias
    assert str(known) in message
    assert known.read_text() == before  # nothing appended that contradicts the entry
    assert not transport.connected


async def test_accept_new_records_an_alias_under_its_resolved_name(
    ssh_lab: SshLab, gpu_node: LabNode, isolated_home: Path, tmp_path: Path
) -> None:
    ssh_config(isolated_home, f"Host gpu-alias\n  HostName {gpu_node.host}\n  Port {gpu_node.port}\n")
    known = tmp_path / "known_hosts"
    transport = SSHTransport(aliased(ssh_lab, gpu_node, "gpu-alias", known, "accept-new"))
    try:
        assert (await transport.run("true")).ok
    finally:
        await transport.close()
    assert known.read_text() == gpu_node.known_hosts_line() + "\n"  # `[127.0.0.1]:PORT key`, as OpenSSH
    strict = SSHTransport(aliased(ssh_lab, gpu_node, "gpu-alias", known, "strict"))
    try:
        assert (await strict.run("true")).ok  # and strict mode finds it there
    finally:
        await strict.close()


async def test_host_key_alias_is_the_name_recorded(
    ssh_lab: SshLab, gpu_node: LabNode, isolated_home: Path, tmp_path: Path
) -> None:
    ssh_config(
        isolated_home,
        f"Host gpu-alias\n  HostName {gpu_node.host}\n  Port {gpu_node.port}\n  HostKeyAlias gpu-key\n",
    )
    known = tmp_path / "known_hosts"
    transport = SSHTransport(aliased(ssh_lab, gpu_node, "gpu-alias", known, "accept-new"))
    try:
        assert (await transport.run("true")).ok
    finally:
        await transport.close()
    assert known.read_text() == f"gpu-key {gpu_node.host_key_public_line}\n"


async def test_connect_errors_say_where_ssh_config_sent_us(
    ssh_lab: SshLab, gpu_node: LabNode, isolated_home: Path
) -> None:
    dead = ssh_lab.dead_port()
    ssh_config(isolated_home, f"Host gone-alias\n  HostName {gpu_node.host}\n  Port {dead}\n")
    transport = SSHTransport(aliased(ssh_lab, gpu_node, "gone-alias", ssh_lab.known_hosts_path))
    with pytest.raises(ConnectError) as failed:
        await transport.connect()
    assert str(failed.value) == f"gone-alias ({gpu_node.host}:{dead} by ~/.ssh/config): connection refused"


# -- jump hosts ----------------------------------------------------------------------------------------------


def jumped(lab: SshLab, target: LabNode, jump: str, known: Path, policy: str = "strict") -> Node:
    return lab_node_model(
        lab, target, ssh={"jump": jump, "known_hosts": str(known), "host_key_policy": policy}
    )


async def test_a_text_jump_is_checked_against_the_inventory_known_hosts(
    ssh_lab: SshLab, gpu_node: LabNode, plain_node: LabNode, tmp_path: Path
) -> None:
    spec = f"{ssh_lab.user}@{gpu_node.host}:{gpu_node.port}"
    # The target's key is right; the jump host's is not.
    known = ssh_lab.write_known_hosts(
        tmp_path / "inventory_known_hosts", [gpu_node, plain_node], wrong_for=[gpu_node]
    )
    transport = SSHTransport(jumped(ssh_lab, plain_node, spec, known))
    with pytest.raises(HostKeyError) as refused:
        await transport.connect()
    message = str(refused.value)
    assert f"via jump host {spec}: host key does NOT match" in message
    assert (
        f"[{gpu_node.host}]:{gpu_node.port} in {known}" in message
    )  # the jump host, in the inventory's file
    await transport.close()

    good = ssh_lab.write_known_hosts(tmp_path / "good", [gpu_node, plain_node])
    transport = SSHTransport(jumped(ssh_lab, plain_node, spec, good))
    try:
        assert (await transport.run("echo through")).stdout == "through\n"
    finally:
        await transport.close()


async def test_a_text_jump_unknown_to_strict_mode_is_refused_and_accept_new_records_both(
    ssh_lab: SshLab, gpu_node: LabNode, plain_node: LabNode, tmp_path: Path
) -> None:
    spec = f"{ssh_lab.user}@{gpu_node.host}:{gpu_node.port}"
    only_target = ssh_lab.write_known_hosts(tmp_path / "only_target", [plain_node])
    transport = SSHTransport(jumped(ssh_lab, plain_node, spec, only_target))
    with pytest.raises(HostKeyError, match=rf"via jump host {spec}: unknown host key"):
        await transport.connect()
    await transport.close()

    known = tmp_path / "fresh"
    transport = SSHTransport(jumped(ssh_lab, plain_node, spec, known, "accept-new"))
    try:
        assert (await transport.run("true")).ok
    finally:
        await transport.close()
    assert sorted(known.read_text().splitlines()) == sorted(
        [gpu_node.known_hosts_line(), plain_node.known_hosts_line()]
    )


async def test_proxyjump_from_ssh_config_is_verified_like_the_node(
    ssh_lab: SshLab, gpu_node: LabNode, plain_node: LabNode, isolated_home: Path, tmp_path: Path
) -> None:
    jump = f"{ssh_lab.user}@{gpu_node.host}:{gpu_node.port}"
    ssh_config(
        isolated_home,
        f"Host behind\n  HostName {plain_node.host}\n  Port {plain_node.port}\n  ProxyJump {jump}\n",
    )
    known = ssh_lab.write_known_hosts(tmp_path / "known_hosts", [gpu_node, plain_node], wrong_for=[gpu_node])
    transport = SSHTransport(aliased(ssh_lab, plain_node, "behind", known))
    with pytest.raises(HostKeyError, match=rf"behind: via jump host {jump}: host key does NOT match"):
        await transport.connect()
    await transport.close()


async def test_nodes_behind_the_same_text_jump_share_one_connection_to_it(
    ssh_lab: SshLab, gpu_node: LabNode, plain_node: LabNode
) -> None:
    spec = f"{ssh_lab.user}@{gpu_node.host}:{gpu_node.port}"
    first = replace(lab_node_model(ssh_lab, plain_node, ssh={"jump": spec}), name="behind-a")
    second = replace(first, name="behind-b")
    transports = transports_for(Inventory("lab", "lab.yaml", (first, second)))
    a, b = transports["behind-a"], transports["behind-b"]
    assert isinstance(a, SSHTransport)
    assert isinstance(b, SSHTransport)
    assert a.jump is not None
    assert a.jump is b.jump
    hop = a.jump
    try:
        assert [(await t.run("echo ok")).stdout for t in (a, b)] == ["ok\n", "ok\n"]
        await a.close()
        assert hop.connected  # b still goes through it
        assert (await b.run("echo still")).stdout == "still\n"
        await b.close()
        assert not hop.connected  # closed with the last node that used it
    finally:
        for transport in (a, b, hop):
            await transport.close()


# -- agent forwarding ----------------------------------------------------------------------------------------


@pytest.fixture
def agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real ssh-agent on a socket of the test's own, as SSH_AUTH_SOCK."""
    sock = str(tmp_path / "agent.sock")
    process = subprocess.Popen(["ssh-agent", "-D", "-a", sock], stdout=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if os.path.exists(sock):
                break
            subprocess.run(["sleep", "0.01"], check=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", sock)
        yield sock
    finally:
        process.terminate()
        process.wait(5)


async def test_forward_agent_in_ssh_config_never_forwards_the_agent(
    ssh_lab: SshLab, gpu_node: LabNode, isolated_home: Path, agent: str
) -> None:
    config = ssh_config(isolated_home, "Host *\n  ForwardAgent yes\n")
    probe = 'echo "agent=${SSH_AUTH_SOCK:-none}"'
    # Control: plain asyncssh with the same config forwards it, so the node would see a socket.
    options = ssh_lab.ssh_options(gpu_node, config=[str(config)], agent_path=agent)
    async with asyncssh.connect(**options) as conn:
        shown = (await conn.run(probe)).stdout
    assert shown is not None
    assert shown.strip() != "agent=none"

    transport = SSHTransport(lab_node_model(ssh_lab, gpu_node))
    try:
        assert (await transport.run(probe)).stdout == "agent=none\n"
        stream = await transport.open_stream(probe)
        assert await asyncio.wait_for(stream.readline(), 5) == "agent=none"
        await stream.close()
    finally:
        await transport.close()
