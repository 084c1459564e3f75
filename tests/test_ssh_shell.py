"""The `ssh` command line of the shell key (`s`): the node's own settings, as argv, and a real OpenSSH `ssh`
that logs in to the lab's sshd with them (direct, through a jump node, strict and accept-new)."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from console.inventory.model import Node, SSHSettings
from console.transport.ssh_argv import (
    ShellRefused,
    jump_chain,
    local_shell_argv,
    prepared,
    ssh_argv,
    ssh_config,
)
from tests.lab.models import lab_node_model
from tests.lab.sshd import LabNode, SshLab

CFG = "/tmp/opsconsole-shell-x/ssh_config"
KNOWN = ["-o", 'UserKnownHostsFile="/home/ops/.ssh/known_hosts"', "-o", "GlobalKnownHostsFile=none"]


@pytest.fixture
def ops_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/ops")


@pytest.mark.usefixtures("ops_home")
def test_plain_node() -> None:
    node = Node("gpu1", "10.60.0.20")
    assert ssh_argv(node, config_path=CFG) == [
        "ssh", "-F", CFG, *KNOWN, "-o", "StrictHostKeyChecking=yes", "-a", "-x", "--", "10.60.0.20",
    ]  # fmt: skip


@pytest.mark.usefixtures("ops_home")
def test_user_port_and_accept_new() -> None:
    node = Node("gpu1", "gpu1.lab", ssh=SSHSettings(user="ops", port=2222, host_key_policy="accept-new"))
    assert ssh_argv(node, config_path=CFG) == [
        "ssh", "-F", CFG, "-l", "ops", "-p", "2222", *KNOWN, "-o", "StrictHostKeyChecking=accept-new",
        "-a", "-x", "--", "gpu1.lab",
    ]  # fmt: skip


@pytest.mark.usefixtures("ops_home")
def test_identity_and_known_hosts_paths_as_ssh_reads_them() -> None:
    ssh = SSHSettings(identity_file="~/keys/fleet key", known_hosts="/srv/k%h/known_hosts")
    argv = ssh_argv(Node("gpu1", "10.60.0.20", ssh=ssh), config_path=CFG)
    # -i and the config expand %-tokens: a literal % is doubled; a space is quoted, never split
    assert argv[3:7] == ["-i", "/home/ops/keys/fleet key", "-o", "IdentitiesOnly=yes"]
    assert 'UserKnownHostsFile="/srv/k%%h/known_hosts"' in argv


@pytest.mark.usefixtures("ops_home")
def test_jump_through_an_inventory_node_with_its_own_settings() -> None:
    bastion = Node(
        "bastion",
        "bastion.lab",
        ssh=SSHSettings(user="jump", port=2200, identity_file="/keys/jump", known_hosts="/kh/bastion"),
    )
    inner = Node("gate", "10.0.0.2", ssh=SSHSettings(user="gate", jump="bastion"))
    node = Node("gpu1", "10.0.1.5", ssh=SSHSettings(user="root", jump="gate"))
    nodes = {n.name: n for n in (bastion, inner, node)}
    assert [hop.name for hop in jump_chain(node, nodes)] == ["bastion", "gate"]
    argv = ssh_argv(node, nodes, config_path=CFG)
    assert argv[argv.index("-J") + 1] == "jump@bastion.lab:2200,gate@10.0.0.2"
    assert argv[-2:] == ["--", "10.0.1.5"]
    config = ssh_config(node, nodes)
    # the bastion is checked against its own known_hosts, with its own key; OpenSSH takes the first value
    assert 'Host bastion.lab\n  UserKnownHostsFile "/kh/bastion"' in config
    assert 'IdentityFile "/keys/jump"' in config
    assert config.index("Host bastion.lab") < config.index("Host *") < config.index("Include ~/.ssh/config")
    assert "ForwardAgent no" in config


@pytest.mark.usefixtures("ops_home")
def test_text_jump_hops_take_the_nodes_keys() -> None:
    node = Node("gpu1", "10.0.1.5", ssh=SSHSettings(jump="a@one:2201,two", identity_file="/keys/fleet"))
    argv = ssh_argv(node, config_path=CFG)
    assert argv[argv.index("-J") + 1] == "a@one:2201,two"
    config = ssh_config(node)
    for host in ("one", "two"):
        block = config.split(f"Host {host}\n")[1].split("Host ")[0]
        assert 'IdentityFile "/keys/fleet"' in block
        assert 'UserKnownHostsFile "/home/ops/.ssh/known_hosts"' in block


@pytest.mark.parametrize(
    "node",
    [
        Node("x", "-oProxyCommand=touch /tmp/pwned"),
        Node("x", "host name"),
        Node("x", "host;reboot"),
        Node("x", "10.0.0.1", ssh=SSHSettings(user="-oProxyCommand=x")),
        Node("x", "10.0.0.1", ssh=SSHSettings(jump="-oProxyCommand=x")),
        Node("x", "10.0.0.1", ssh=SSHSettings(jump="ok@$(reboot)")),
        Node("x", "10.0.0.1", ssh=SSHSettings(identity_file='/keys/"x')),
        Node("x", "10.0.0.1", ssh=SSHSettings(known_hosts="/kh/${HOME}")),
        Node("x", "10.0.0.1", ssh=SSHSettings(known_hosts="/kh/a\nProxyCommand x")),
        # OpenSSH runs a -J hop as `sh -c "exec ssh -l USER ..."`: $IFS splits there, -A forwards the agent
        Node("x", "10.0.0.1", ssh=SSHSettings(jump="ops$IFS-A@bastion")),
        Node("x", "10.0.0.1", ssh=SSHSettings(user="ops$HOME")),
    ],
    ids=[
        "option-host",
        "space",
        "semicolon",
        "option-user",
        "option-jump",
        "subshell-jump",
        "quote",
        "dollar",
        "newline",
        "expanded-jump-user",
        "expanded-user",
    ],
)
def test_what_ssh_or_a_shell_would_misread_is_refused(node: Node) -> None:
    with pytest.raises(ShellRefused):
        ssh_argv(node, config_path=CFG)


def test_a_machine_accounts_trailing_dollar_is_kept() -> None:
    argv = ssh_argv(
        Node("x", "10.0.0.1", ssh=SSHSettings(user="host$", jump="svc$@bastion")), config_path=CFG
    )
    assert argv[argv.index("-l") + 1] == "host$"
    assert argv[argv.index("-J") + 1] == "svc$@bastion"


def test_a_jump_loop_is_refused() -> None:
    a = Node("a", "a.lab", ssh=SSHSettings(jump="b"))
    b = Node("b", "b.lab", ssh=SSHSettings(jump="a"))
    with pytest.raises(ShellRefused, match="loop"):
        jump_chain(a, {"a": a, "b": b})


def test_a_local_node_opens_the_users_shell() -> None:
    assert local_shell_argv({"SHELL": "/bin/bash"}) == ["/bin/bash"]
    assert local_shell_argv({}) == ["/bin/sh"]


def test_the_config_lives_only_while_the_shell_runs() -> None:
    with prepared(Node("gpu1", "10.60.0.20")) as argv:
        path = Path(argv[argv.index("-F") + 1])
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.parent.stat().st_mode & 0o777 == 0o700
    assert not path.exists()
    assert not path.parent.exists()


def resolved(argv: list[str]) -> dict[str, str]:
    """What OpenSSH makes of a command line (`ssh -G`: its config for the host, no connection)."""
    shown = subprocess.run(
        [argv[0], "-G", *argv[1:]], capture_output=True, text=True, timeout=10, check=True
    ).stdout
    return dict(line.partition(" ")[::2] for line in shown.splitlines())


def test_the_inventory_wins_over_what_ssh_config_says(isolated_home: Path) -> None:
    ssh_dir = isolated_home / ".ssh"
    ssh_dir.mkdir()
    (ssh_dir / "config").write_text(
        "Host *\n  ForwardAgent yes\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n"
        "  PasswordAuthentication yes\n  HostName elsewhere.example\n"
    )
    jump = Node("bastion", "bastion.lab", ssh=SSHSettings(known_hosts="/kh/bastion", port=2200))
    node = Node("gpu1", "gpu1.lab", ssh=SSHSettings(known_hosts="/kh/fleet", jump="bastion"))
    with prepared(node, {"bastion": jump, "gpu1": node}) as argv:
        target = resolved(argv)
        config = argv[argv.index("-F") + 1]
        hop = resolved(["ssh", "-F", config, "-p", "2200", "bastion.lab"])
        other = resolved(["ssh", "-F", config, "gate.lab"])  # a ProxyJump ~/.ssh/config would add
    assert target["forwardagent"] == "no"
    assert target["stricthostkeychecking"] == "true"
    assert target["userknownhostsfile"] == "/kh/fleet"
    assert target["passwordauthentication"] == "no"
    assert target["hostname"] == "elsewhere.example"  # what the inventory leaves open, ~/.ssh/config says
    assert target["proxyjump"] == "bastion.lab:2200"
    assert hop["userknownhostsfile"] == "/kh/bastion"  # the hop's own file, as the console checks it
    assert hop["stricthostkeychecking"] == "true"
    assert hop["forwardagent"] == "no"
    assert other["userknownhostsfile"] == "/kh/fleet"  # the node's settings, as the console's own hops
    assert other["forwardagent"] == "no"


# --- the real thing: OpenSSH's ssh against the lab's sshd ---------------------------------------------------


def run(node: Node, nodes: dict[str, Node] | None = None) -> subprocess.CompletedProcess[str]:
    with prepared(node, nodes, command=["id", "-un"]) as argv:
        return subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=False
        )


def test_ssh_logs_in_with_the_nodes_settings(ssh_lab: SshLab, gpu_node: LabNode) -> None:
    done = run(lab_node_model(ssh_lab, gpu_node))
    assert (done.returncode, done.stdout.strip()) == (0, ssh_lab.user), done.stderr


def test_ssh_refuses_a_host_key_the_inventorys_known_hosts_contradicts(
    ssh_lab: SshLab, gpu_node: LabNode, tmp_path: Path
) -> None:
    wrong = ssh_lab.write_known_hosts(tmp_path / "known_hosts", [gpu_node], wrong_for=[gpu_node])
    done = run(lab_node_model(ssh_lab, gpu_node, ssh={"known_hosts": str(wrong)}))
    assert done.returncode == 255
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in done.stderr
    assert done.stdout == ""


def test_strict_refuses_an_unknown_host_and_accept_new_records_it_plainly(
    ssh_lab: SshLab, gpu_node: LabNode, tmp_path: Path
) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    strict = run(lab_node_model(ssh_lab, gpu_node, ssh={"known_hosts": str(known)}))
    assert strict.returncode == 255
    assert "Host key verification failed" in strict.stderr
    node = lab_node_model(ssh_lab, gpu_node, ssh={"known_hosts": str(known), "host_key_policy": "accept-new"})
    done = run(node)
    assert (done.returncode, done.stdout.strip()) == (0, ssh_lab.user), done.stderr
    # recorded under [host]:port, not hashed: as the console records it
    assert known.read_text() == gpu_node.known_hosts_line() + "\n"


def test_ssh_through_a_jump_node_checks_each_host_against_its_own_known_hosts(
    ssh_lab: SshLab, gpu_node: LabNode, plain_node: LabNode, tmp_path: Path
) -> None:
    jump_known = ssh_lab.write_known_hosts(tmp_path / "jump_known_hosts", [gpu_node])
    node_known = ssh_lab.write_known_hosts(tmp_path / "node_known_hosts", [plain_node])
    jump = lab_node_model(ssh_lab, gpu_node, ssh={"known_hosts": str(jump_known)})
    node = lab_node_model(ssh_lab, plain_node, ssh={"known_hosts": str(node_known), "jump": jump.name})
    nodes = {jump.name: jump, node.name: node}
    done = run(node, nodes)
    assert (done.returncode, done.stdout.strip()) == (0, ssh_lab.user), done.stderr
    # the same jump checked against the node's file (which lacks the jump host's key) is refused
    crossed = {jump.name: replace(jump, ssh=replace(jump.ssh, known_hosts=str(node_known))), node.name: node}
    refused = run(node, crossed)
    assert refused.returncode == 255
    assert "Host key verification failed" in refused.stderr


# --- `%` in a host: OpenSSH %-expands the command it builds for each -J hop -------------------------------


@pytest.mark.parametrize("host", ["jump%d.lab", "10.0.0.1%h", "fe80::1%", "%eth0"])
def test_a_percent_outside_an_ipv6_scope_id_is_refused(host: str) -> None:
    node = Node("gpu1", "10.0.1.5", ssh=SSHSettings(jump="bastion"))
    with pytest.raises(ShellRefused, match="scope id"):
        ssh_argv(node, {"bastion": Node("bastion", host), "gpu1": node}, config_path=CFG)
    with pytest.raises(ShellRefused, match="scope id"):
        ssh_argv(Node("gpu1", host), config_path=CFG)


def proxy_commands(argv: list[str]) -> list[str]:
    """The hop commands OpenSSH runs (after its %-expansion), as `ssh -v` logs them; the link-local hops are
    not there, so each ends at once."""
    shown = subprocess.run(
        [argv[0], "-v", *argv[1:]], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30
    ).stderr
    assert "percent_expand" not in shown, shown
    assert "Invalid -J" not in shown, shown
    return [line.split("exec ", 1)[1] for line in shown.splitlines() if "Executing proxy command" in line]


def test_an_ipv6_scope_id_reaches_each_hop_as_written() -> None:
    first = Node(
        "first",
        "fe80::1%lo",
        ssh=SSHSettings(user="ops", port=2200, connect_timeout=2, known_hosts="/kh/first"),
    )
    second = Node("second", "fe80::2%lo", ssh=SSHSettings(jump="first", connect_timeout=2))
    node = Node("gpu1", "fe80::3%lo", ssh=SSHSettings(jump="second", connect_timeout=2))
    nodes = {n.name: n for n in (first, second, node)}
    argv = ssh_argv(node, nodes, config_path=CFG)
    assert argv[argv.index("-J") + 1] == "ops@[fe80::1%%%%lo]:2200,[fe80::2%%lo]"
    with prepared(node, nodes) as argv:
        commands = proxy_commands(argv)
        hop = resolved(["ssh", "-F", argv[argv.index("-F") + 1], "fe80::1%lo"])
    assert hop["userknownhostsfile"] == "/kh/first"  # the hop's own block matches its scoped address
    # ssh for the last hop first, then (from inside it) the one for the first hop: each gets `%lo`
    assert commands[0].endswith("-W '[fe80::3%lo]:22' fe80::2%lo"), commands
    assert commands[1].endswith("-W '[fe80::2%lo]:22' fe80::1%lo"), commands
    assert "-l ops -p 2200" in commands[1]


def test_an_ipv6_jump_host_without_a_port_is_bracketed() -> None:
    node = Node("gpu1", "10.0.1.5", ssh=SSHSettings(jump="v6"))
    argv = ssh_argv(node, {"v6": Node("v6", "fd00::7"), "gpu1": node}, config_path=CFG)
    assert argv[argv.index("-J") + 1] == "[fd00::7]"  # ssh refuses `-J fd00::7` (it reads `:7` as a port)
