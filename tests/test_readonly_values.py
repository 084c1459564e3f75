"""The read-only allowlist takes every value the inventory validates: extreme valid inventories, real sshd.

Each registered read command has holes for inventory values (mount paths and timeouts, NFS server hosts,
storage and scratch paths, the Docker socket). A value the loader accepts must never turn a node's results
into "internal error: ReadOnlyViolation": the commands are built from a loaded inventory by the collectors'
own builders, checked, and run on a real node through the read-only handle.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

import console.sections  # noqa: F401  the sections declare the read-only commands checked here
from console.collectors import basics, docker, mounts
from console.collectors.node_facts import facts_command
from console.inventory import load_inventory
from console.inventory.model import MountSpec, Node
from console.transport.readonly import ReadOnlyTransport, ReadOnlyViolation, is_read_only
from console.transport.ssh import SSHTransport
from tests.lab.models import lab_node_model
from tests.lab.sshd import LabNode, SshLab

TIMEOUTS = ("0.001", "1", "5", "86400.5", "1000000", "1.0e+12", "1.0e+300")
ODD_PATHS = (
    "/mnt/with space",
    "/mnt/it's",
    "/mnt/$(reboot);reboot;`reboot`",
    '/mnt/"quoted"\\back',
    "/mnt/ünï cødé/模型",
    "/mnt/-dash",
    "/-",
    "/mnt/trailing/",
    "/mnt//double",
    "/mnt/*?[a]",
    "/" + "x" * 4000,
)
HOSTS = ("atlas", "atlas.lan", "10.0.0.5", "[fd00::10]", "[fe80::1%eth0]", "x_y", "ä-host", "it's", "a;b")
SOCKETS = ("/var/run/docker.sock", "/run/user/1000/docker.sock", "docker.sock", "/tmp/it's a sock", "-x")


def odd_inventory(path: Path) -> Path:
    """One node per timeout, every odd path and source on each: all of it accepted by the loader."""
    lines = ["version: 1", "nodes:"]
    for index, timeout in enumerate(TIMEOUTS):
        lines += [f"  n{index}:", "    host: 10.0.0.1", "    mounts:"]
        for number, (mount, host) in enumerate(zip(ODD_PATHS, HOSTS * 2, strict=False)):
            source = f"{host}:/export/{number}"
            lines.append(f"      - {{path: {_yaml(mount)}, source: {_yaml(source)}, timeout: {timeout}}}")
        lines.append("    storage:")
        lines += [f"      - {{path: {_yaml(storage)}}}" for storage in ODD_PATHS]
        # scratch is local only: never at or under a mount (the loader refuses that), so it sits apart
        lines.append("    scratch: [" + ", ".join(_yaml("/local" + scratch) for scratch in ODD_PATHS) + "]")
        lines.append(f"    docker: {{socket: {_yaml(SOCKETS[index % len(SOCKETS)])}}}")
        lines.append("    sshd: {}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _yaml(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def rpc_commands(node: Node) -> list[str]:
    """The NFS server detail script for each source's host (rpcinfo, showmount: slow on unknown hosts)."""
    commands = []
    for spec in node.mounts:
        host = mounts.spec_server_host(spec)
        if host is not None and not host.startswith("-"):  # see test_an_nfs_host_never_reads_as_an_option
            script = mounts._RPC_SCRIPT.format(limit=mounts.RPC_TOOL_TIMEOUT_S, host=shlex.quote(host))
            commands.append(f"LC_ALL=C sh -c {shlex.quote(script)}")
    return commands


def derived_commands(node: Node) -> list[str]:
    """Every other registered read command the node's inventory values end up in, built by the collectors."""
    commands = [mounts.probe_command(spec.path, timeout=spec.timeout) for spec in node.mounts]
    facts = facts_command(node)
    assert facts is not None
    commands.append(facts)
    commands.append(basics.disk_command(basics.disk_paths(node.scratch, (m.path for m in node.mounts))))
    return commands


def test_every_command_from_an_extreme_valid_inventory_is_a_registered_read(tmp_path: Path) -> None:
    inventory = load_inventory(odd_inventory(tmp_path / "odd.yaml"))
    assert {spec.timeout for node in inventory.nodes for spec in node.mounts} == {float(t) for t in TIMEOUTS}
    refused = [
        (node.name, command[:100])
        for node in inventory.nodes
        for command in derived_commands(node) + rpc_commands(node)
        if not is_read_only(command)
    ]
    assert refused == []


@pytest.mark.parametrize("timeout", [1e-9, 0.5, 5, 86399.5, 1_000_000, 1e15, 1e300])
@pytest.mark.parametrize("path", ["/mnt/a", "/mnt/line\nbreak", "/mnt/tab\there", "/mnt/\x1b]0;title\x07"])
def test_mount_probe_takes_any_positive_timeout_and_any_absolute_path(timeout: float, path: str) -> None:
    assert is_read_only(mounts.probe_command(path, timeout=timeout))


def test_an_nfs_host_never_reads_as_an_option() -> None:
    # `-d:/x` is a source the inventory takes, but `rpcinfo -T tcp -d nfs` is an option, not a host: refused.
    # (The collector only runs the script after a TCP connect to that host worked, which `-d` never does.)
    script = mounts._RPC_SCRIPT.format(limit=mounts.RPC_TOOL_TIMEOUT_S, host=shlex.quote("-d"))
    assert not is_read_only(f"LC_ALL=C sh -c {shlex.quote(script)}")


async def test_the_derived_commands_run_on_a_real_node_through_the_read_only_handle(
    ssh_lab: SshLab, gpu_node: LabNode, tmp_path: Path
) -> None:
    inventory = load_inventory(odd_inventory(tmp_path / "odd.yaml"))
    node = inventory.node("n4")  # mounts[].timeout: 1000000
    handle = ReadOnlyTransport(SSHTransport(lab_node_model(ssh_lab, gpu_node)))
    try:
        for command in derived_commands(node):
            result = await handle.run(command, timeout=10)  # a refusal raises ReadOnlyViolation
            assert result.exit_status != 127, (command[:80], result.stderr)
        for socket in SOCKETS:  # docker.diagnose_socket builds its script inline: run it for real
            assert await docker.diagnose_socket(handle, socket) is not None
        # The collector itself, on a mount every node has, with a huge valid timeout: probed, not refused.
        spec = MountSpec("/", timeout=1_000_000)
        snapshot = await mounts.collect_mounts(handle, (spec,), timeout=10)
    finally:
        await handle.close()
    assert snapshot.error is None
    (status,) = snapshot.mounts
    assert status.responsive == "ok", status.probe_detail


async def test_a_refused_command_still_never_reaches_the_node(ssh_lab: SshLab, gpu_node: LabNode) -> None:
    handle = ReadOnlyTransport(SSHTransport(lab_node_model(ssh_lab, gpu_node)))
    try:
        with pytest.raises(ReadOnlyViolation):
            await handle.run(mounts.probe_command("relative", timeout=5))
    finally:
        await handle.close()
