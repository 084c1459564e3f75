"""Node facts (sshd settings, storage stats) against real sshd nodes; the ssh.* and storage.* rules.

`facts_node` is a lab sshd in a mount namespace of its own, where /etc/ssh/sshd_config and
/etc/ssh/sshd_config.d are bind mounts of files this module writes: the node's "real" sshd configuration,
read by the real `sshd -T` (which the lab user can run only when the config's host key is readable to it)
or parsed from the files when `sshd -T` fails, as it does for a normal user on a real host.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncssh
import pytest

from console.checks.model import CheckResult, Status
from console.checks.node_rules import evaluate_node_facts, planned_node_facts
from console.collectors.node_facts import (
    SSHD_CONFIG,
    NodeFacts,
    SshdFacts,
    collect_node_facts,
    facts_command,
    parse_sshd_config,
)
from console.inventory.model import Node, SshdPolicy, StorageSpec
from console.transport.base import CommandResult, Transport
from console.transport.local import LocalTransport
from console.transport.ssh import SSHTransport
from tests.hostile import HOSTILE, OSC_TITLE, WIPE, assert_clean
from tests.lab.daemon import ns_exec
from tests.lab.fusefs import FuseMount
from tests.lab.models import lab_node_model
from tests.lab.nfs_fixtures import MountLab
from tests.lab.sshd import LabNode, SshLab

MAIN_CONFIG = """\
# the node's sshd_config (Debian's layout: the drop-ins first, so they win)
Include /etc/ssh/sshd_config.d/*.conf
PermitRootLogin no
PasswordAuthentication no
Match User backup
    PasswordAuthentication yes
"""


@dataclass
class FactsNode:
    node: LabNode
    etc: Path  # bind-mounted: etc/sshd_config → /etc/ssh/sshd_config, etc/sshd_config.d → the .d dir
    storage: Path  # world-readable: the directories the storage checks look at

    def configure(self, main: str, dropins: dict[str, str], *, readable_host_key: bool = False) -> None:
        """Rewrite the node's sshd config in place (the bind mounts keep pointing at the same inodes)."""
        key = "HostKey /etc/ssh/sshd_config.d/host_key\n" if readable_host_key else ""  # not in a Match block
        (self.etc / "sshd_config").write_text(key + main)
        conf_dir = self.etc / "sshd_config.d"
        for old in conf_dir.glob("*.conf"):
            old.unlink()
        for name, text in dropins.items():
            (conf_dir / name).write_text(text)
            os.chmod(conf_dir / name, 0o644)


@pytest.fixture(scope="module")
def facts_node(ssh_lab: SshLab) -> Iterator[FactsNode]:
    base = Path(tempfile.mkdtemp(prefix="opsconsole-facts-"))
    os.chmod(base, 0o755)
    node = ssh_lab.start_node("facts1", gpu_capture=None, mount_namespace=True)
    try:
        etc = base / "etc"
        (etc / "sshd_config.d").mkdir(parents=True)
        (etc / "sshd_config").write_text(MAIN_CONFIG)
        key = asyncssh.generate_private_key("ssh-ed25519")
        (etc / "sshd_config.d" / "host_key").write_bytes(key.export_private_key("openssh"))
        os.chmod(etc / "sshd_config.d" / "host_key", 0o644)  # so that `sshd -T` works as the lab user
        for source, target in (
            (etc / "sshd_config", SSHD_CONFIG),
            (etc / "sshd_config.d", SSHD_CONFIG + ".d"),
        ):
            done = ns_exec(node.process.pid, ["mount", "--bind", str(source), target])
            assert done.returncode == 0, done.stderr
        for path in (etc, etc / "sshd_config.d"):
            os.chmod(path, 0o755)
        storage = base / "srv"
        storage.mkdir()
        os.chmod(storage, 0o755)
        yield FactsNode(node, etc, storage)
    finally:
        node.stop()  # its mount namespace, and the bind mounts in it, go with it
        shutil.rmtree(base, ignore_errors=True)


class CountingTransport:
    """A real transport that counts the commands it runs (to prove one round trip)."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.commands: list[str] = []
        self.node_name = inner.node_name

    async def run(self, command: str, *, timeout: float | None = None) -> CommandResult:
        self.commands.append(command)
        return await self.inner.run(command, timeout=timeout)


async def collect(lab: SshLab, node: LabNode, **fields: object) -> tuple[Node, NodeFacts, list[str]]:
    model = lab_node_model(lab, node, **fields)
    transport = SSHTransport(model)
    counting = CountingTransport(transport)
    try:
        facts = await collect_node_facts(counting, model, timeout=10)  # type: ignore[arg-type]
    finally:
        await transport.close()
    return model, facts, counting.commands


def by_key(results: tuple[CheckResult, ...]) -> dict[tuple[str, str | None], CheckResult]:
    return {(result.check, result.target): result for result in results}


def test_sshd_config_parse_first_value_wins_includes_and_match() -> None:
    main = [
        "Include sshd_config.d/*.conf",  # relative: to /etc/ssh
        "PermitRootLogin no",
        "Include extra/*.conf",
        'PasswordAuthentication = "no"',
        "Match User backup",
        "    PasswordAuthentication yes",
    ]
    files = {
        SSHD_CONFIG: main,
        "/etc/ssh/sshd_config.d/10-a.conf": [
            "# comment",
            "permitrootlogin=prohibit-password",
            "Include /x.conf",
        ],
        "/etc/ssh/sshd_config.d/20-b.conf": [
            "PermitRootLogin yes",
            "Match Address 10.0.0.0/8",
            "X11Forwarding yes",
        ],
    }
    includes = {"/etc/ssh/sshd_config.d/*.conf": sorted(files)[1:]}
    settings, notes = parse_sshd_config(files, includes)
    assert dict(settings) == {"permitrootlogin": "prohibit-password", "passwordauthentication": "no"}
    assert notes == (
        "Include /x.conf not followed",
        "Match blocks ignored",
        "Include /etc/ssh/extra/*.conf not followed",
    )


def test_sshd_defaults_old_spellings_and_where_from() -> None:
    unset = SshdFacts("sshd_config", (), sshd_t_error="sshd: no hostkeys available -- exiting.")
    assert (unset.permit_root_login, unset.password_authentication) == ("prohibit-password", "yes")
    assert unset.described == "from sshd_config (sshd -T needs root)"
    old = SshdFacts("sshd -T", (("permitrootlogin", "without-password"),))
    assert (old.permit_root_login, old.described) == ("prohibit-password", "from sshd -T")
    missing = SshdFacts("sshd_config", sshd_t_error="sh: 1: sshd: not found")
    assert missing.described == "from sshd_config (no sshd -T: sshd not found)"
    broken = SshdFacts(
        "sshd_config", sshd_t_error="/etc/ssh/sshd_config line 3: Bad configuration option: Foo"
    )
    assert broken.described.startswith("from sshd_config (sshd -T failed: /etc/ssh/sshd_config line 3")


async def test_sshd_t_as_root_on_this_machine() -> None:
    # The tests run as root: `sshd -T` answers, exactly what it answers to us directly.
    node = Node("here", "localhost", transport="local", sshd=SshdPolicy())
    facts = await collect_node_facts(LocalTransport("here"), node, timeout=10)
    assert facts.error is None
    assert facts.sshd is not None
    assert facts.sshd.source == "sshd -T"
    assert facts.sshd.described == "from sshd -T"
    sshd_t = await asyncio.create_subprocess_exec("/usr/sbin/sshd", "-T", stdout=asyncio.subprocess.PIPE)
    direct = (await sshd_t.communicate())[0].decode()
    assert sshd_t.returncode == 0
    for keyword in ("permitrootlogin", "passwordauthentication"):
        line = next(line for line in direct.splitlines() if line.startswith(keyword + " "))
        assert facts.sshd.get(keyword) == line.split(" ", 1)[1]
    assert facts.sshd.permit_root_login != "without-password"  # the old spelling is renamed


async def test_sshd_t_needs_root_so_the_config_files_are_read(ssh_lab: SshLab, facts_node: FactsNode) -> None:
    facts_node.configure(
        MAIN_CONFIG, {"10-lab.conf": "PermitRootLogin yes\n", "20-lab.conf": "PasswordAuthentication=yes\n"}
    )
    model, facts, commands = await collect(ssh_lab, facts_node.node, sshd=SshdPolicy())
    assert len(commands) == 1
    assert facts.error is None
    assert facts.sshd is not None
    assert facts.sshd.source == "sshd_config"
    assert facts.sshd.sshd_t_error is not None
    assert "no hostkeys available" in facts.sshd.sshd_t_error
    assert facts.sshd.described == "from sshd_config (sshd -T needs root)"
    assert "Match blocks ignored" in facts.sshd.notes
    results = by_key(evaluate_node_facts(model, facts))
    root = results[("ssh.root_login", None)]
    assert root.status is Status.CRITICAL
    assert root.summary == (
        "PermitRootLogin yes, inventory allows no or prohibit-password; "
        "from sshd_config (sshd -T needs root); Match blocks ignored"
    )
    assert root.fix is not None
    assert root.fix.startswith("PermitRootLogin no; the first value wins")
    password = results[("ssh.password_auth", None)]
    assert (password.status, password.summary.split(";")[0]) == (
        Status.CRITICAL,
        "PasswordAuthentication yes, inventory forbids it",
    )


async def test_a_hostile_sshd_config_reaches_the_facts_only_as_clean_text(
    ssh_lab: SshLab, facts_node: FactsNode
) -> None:
    # What a node's admin (or whoever can write a drop-in) puts there: escape sequences, markup, a \r.
    hostile = f"Banner {HOSTILE}\rforged\nPermitRootLogin no{OSC_TITLE}\n{WIPE}Weird=yes\n"
    facts_node.configure(MAIN_CONFIG, {"10-hostile.conf": hostile})
    _, facts, _ = await collect(ssh_lab, facts_node.node, sshd=SshdPolicy())
    assert facts.sshd is not None
    assert facts.sshd.source == "sshd_config"
    assert_clean(facts)
    assert facts.sshd.get(
        "banner"
    ) == "\\x1b]0;pwned\\x07\\x1b]52;c;Y3VybCBldmlsIHwgc2g=\\x07\\x1b[2J\\x07" + (
        "[/]x[@click=app.quit]y\\x0dforged"
    )
    assert facts.sshd.get("permitrootlogin") == "no\\x1b]0;pwned\\x07"


async def test_compliant_config_read_by_sshd_t(ssh_lab: SshLab, facts_node: FactsNode) -> None:
    facts_node.configure(
        MAIN_CONFIG, {"10-lab.conf": "PermitRootLogin without-password\n"}, readable_host_key=True
    )
    model, facts, _ = await collect(ssh_lab, facts_node.node, sshd=SshdPolicy())
    assert facts.sshd is not None
    assert (facts.sshd.source, facts.sshd.get("permitrootlogin")) == ("sshd -T", "without-password")
    results = by_key(evaluate_node_facts(model, facts))
    root = results[("ssh.root_login", None)]
    assert (root.status, root.summary) == (Status.OK, "PermitRootLogin prohibit-password; from sshd -T")
    password = results[("ssh.password_auth", None)]
    assert (password.status, password.summary) == (Status.OK, "PasswordAuthentication no; from sshd -T")
    strict = lab_node_model(ssh_lab, facts_node.node, sshd=SshdPolicy(root_login=("no",)))
    assert by_key(evaluate_node_facts(strict, facts))[("ssh.root_login", None)].status is Status.CRITICAL
    lenient = lab_node_model(ssh_lab, facts_node.node, sshd=SshdPolicy(password_auth=True))
    facts_node.configure(MAIN_CONFIG, {"10-lab.conf": "PasswordAuthentication yes\n"}, readable_host_key=True)
    _, facts, _ = await collect(ssh_lab, facts_node.node, sshd=SshdPolicy(password_auth=True))
    allowed = by_key(evaluate_node_facts(lenient, facts))[("ssh.password_auth", None)]
    assert (allowed.status, allowed.summary) == (
        Status.OK,
        "PasswordAuthentication yes, allowed by the inventory; from sshd -T",
    )


def make_tree(root: Path) -> dict[str, StorageSpec]:
    def directory(name: str, uid: int, gid: int, mode: int) -> str:
        path = root / name
        path.mkdir()
        os.chown(path, uid, gid)
        os.chmod(path, mode)
        return str(path)

    specs = {
        "good": StorageSpec(directory("comfy models", 1024, 1024, 0o775), owner="1024:1024", mode="775"),
        "setgid": StorageSpec(directory("shared", 1024, 1024, 0o2775), owner="1024:1024", mode="775"),
        "owner": StorageSpec(directory("output", 0, 0, 0o775), owner="1024:1024", mode="775"),
        "mode": StorageSpec(directory("loose", 1024, 1024, 0o777), mode="775"),
        "both": StorageSpec(directory("wrong", 0, 0, 0o700), owner="1024:1024", mode="2775"),
        "plain": StorageSpec(directory("plain", 0, 0, 0o755)),
        "missing": StorageSpec(str(root / "missing"), owner="1024:1024"),
        "file": StorageSpec(str(root / "file.txt")),
        "link": StorageSpec(str(root / "models-link"), owner="1024:1024"),
        "denied": StorageSpec(str(root / "locked" / "inside")),
    }
    (root / "file.txt").write_text("not a directory\n")
    (root / "models-link").symlink_to(root / "comfy models")
    directory("locked", 0, 0, 0o700)
    (root / "locked" / "inside").mkdir()
    return specs


async def test_storage_layout_and_ownership(ssh_lab: SshLab, facts_node: FactsNode) -> None:
    specs = make_tree(facts_node.storage)
    model, facts, commands = await collect(ssh_lab, facts_node.node, storage=tuple(specs.values()))
    assert len(commands) == 1
    assert facts.error is None
    assert facts.sshd is None  # no sshd policy: not asked
    assert "sshd" not in commands[0].split("opsconsole-node-facts", 1)[1].split()[0]
    results = by_key(evaluate_node_facts(model, facts))
    assert list(results) == list(planned_node_facts(model))

    def status(key: str, check: str) -> tuple[Status, str, str | None]:
        result = results[(check, specs[key].path)]
        return result.status, result.summary, result.fix

    good = specs["good"].path
    assert status("good", "storage.layout") == (Status.OK, "directory exists", None)
    assert status("good", "storage.ownership") == (Status.OK, "1024:1024 mode 775", None)
    assert status("setgid", "storage.ownership")[0] is Status.OK  # 2775 satisfies 775
    assert status("owner", "storage.ownership") == (
        Status.CRITICAL,
        "owned by 0:0, inventory wants 1024:1024",
        f"chown 1024:1024 {facts_node.storage}/output",
    )
    assert status("mode", "storage.ownership") == (
        Status.WARNING,
        "mode 777, inventory wants 775",
        f"chmod 775 {facts_node.storage}/loose",
    )
    both = status("both", "storage.ownership")
    assert both[0] is Status.CRITICAL
    assert both[2] == f"chown 1024:1024 {facts_node.storage}/wrong && chmod 2775 {facts_node.storage}/wrong"
    assert ("storage.ownership", specs["plain"].path) not in results  # neither owner nor mode: not planned
    assert status("missing", "storage.layout") == (
        Status.CRITICAL,
        "missing",
        f"mkdir -p {specs['missing'].path}",
    )
    assert status("missing", "storage.ownership")[0] is Status.SKIPPED  # storage.layout is the critical
    assert status("file", "storage.layout")[:2] == (Status.CRITICAL, "is a regular file, not a directory")
    assert status("link", "storage.layout")[0] is Status.OK  # followed, as chown and chmod would
    denied = status("denied", "storage.layout")
    assert denied[0] is Status.UNKNOWN
    assert "Permission denied" in denied[1]
    assert f"'{good}'" in commands[0]  # the space is quoted: one argument


async def test_nothing_asked_runs_nothing(ssh_lab: SshLab, facts_node: FactsNode) -> None:
    model, facts, commands = await collect(ssh_lab, facts_node.node)
    assert (commands, facts.error, facts.sshd, facts.storage) == ([], None, None, ())
    assert facts_command(model) is None
    assert planned_node_facts(model) == ()


async def test_storage_on_a_hung_mount_costs_seconds_not_the_poll(
    ssh_lab: SshLab, mount_lab: MountLab, frozen_mount: FuseMount
) -> None:
    specs = (StorageSpec(frozen_mount.mountpoint, owner="0:0"), StorageSpec("/"))
    started = time.monotonic()
    model, facts, _ = await collect(ssh_lab, mount_lab.node, storage=specs)
    assert time.monotonic() - started < 8  # the remote `timeout` (3 s) ended the stat, not our 10 s
    hung, root = facts.storage
    assert hung.exists is None
    assert hung.error is not None
    assert "hung mount" in hung.error
    assert root.kind == "directory"
    results = by_key(evaluate_node_facts(model, facts))
    assert results[("storage.layout", frozen_mount.mountpoint)].status is Status.UNKNOWN
    assert results[("storage.layout", "/")].status is Status.OK


def test_unknown_without_facts() -> None:
    node = Node("n", "h", sshd=SshdPolicy(), storage=(StorageSpec("/srv"),))
    for facts in (None, NodeFacts("n", datetime.now(UTC), error="n: connection lost")):
        results = evaluate_node_facts(node, facts)
        assert [(r.check, r.target) for r in results] == list(planned_node_facts(node))
        assert {r.status for r in results} == {Status.UNKNOWN}
