"""A hostile node's mount table and probe state directory, against the real kernel and a real sshd node.

The mount lines are the kernel's own: tmpfs mounts (whose source is any string) at mount points holding a
carriage return, U+2028 and escape sequences, mounted inside a lab node's private mount namespace and read
back over SSH from its /proc/self/mountinfo.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.checks.model import Status
from console.checks.mount_rules import NOT_READ, evaluate_mounts
from console.collectors.mountinfo import MAX_MOUNTS, read_mountinfo
from console.collectors.mounts import collect_mounts, parse_probe_output, parse_rpc_detail
from console.inventory.model import MountSpec
from console.transport import SSHTransport
from tests.hostile import HOSTILE, OSC_TITLE, WIPE, assert_clean
from tests.lab.common import LAB_USER
from tests.lab.daemon import ns_exec
from tests.lab.models import lab_node_model
from tests.lab.sshd import LabNode, SshLab

GOOD = "36 25 0:32 / /mnt/atlas/models ro,relatime shared:17 - nfs4 atlas:/export/models rw,vers=4.2"
ODD_POINT = "/mnt/a\rb\u2028c" + OSC_TITLE


def test_a_carriage_return_or_u2028_stays_inside_its_mount_point() -> None:
    text = f"{GOOD}\n37 25 0:33 / {ODD_POINT} rw - tmpfs {HOSTILE} rw\n"
    table = read_mountinfo(text)
    assert table.unreadable == ()
    good, odd = table.entries
    assert good.mount_point == "/mnt/atlas/models"
    assert odd.mount_point == "/mnt/a\\x0db\\u2028c\\x1b]0;pwned\\x07"
    assert odd.source.startswith("\\x1b]0;pwned\\x07")
    assert_clean(table)


def test_one_malformed_line_affects_only_itself() -> None:
    text = f"{GOOD}\n38 25 0:34 / /mnt/broken rw nfs4 {WIPE} rw\n²³ 25 0:35 / /mnt/x rw - nfs4 a:/b rw\n"
    table = read_mountinfo(text)
    assert [entry.mount_point for entry in table.entries] == ["/mnt/atlas/models"]
    assert [line.mount_point for line in table.unreadable] == ["/mnt/broken", "/mnt/x"]
    assert table.unreadable[0].reason.startswith(
        "no ' - ' separator: 38 25 0:34 / /mnt/broken rw nfs4 \\x1b[2J"
    )
    assert table.unreadable[1].reason.startswith("mount ids are not numbers")
    assert_clean(table)


def test_a_table_is_read_up_to_its_cap() -> None:
    line = "36 25 0:32 / /mnt/m{} rw - tmpfs t rw"
    table = read_mountinfo("\n".join(line.format(i) for i in range(MAX_MOUNTS + 10)))
    assert len(table.entries) == MAX_MOUNTS
    assert table.truncated


@pytest.fixture
def ns_node(ssh_lab: SshLab) -> Iterator[LabNode]:
    node = ssh_lab.start_node("mounts-hostile", gpu_capture=None, mount_namespace=True)
    yield node
    node.stop()


@pytest.fixture
def public_dir() -> Iterator[Path]:
    """A directory the lab user can reach (pytest's tmp_path is root's, mode 0700)."""
    path = Path(tempfile.mkdtemp(prefix="opsconsole-hostile-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def test_a_real_hostile_mount_line_spoils_nothing_else(
    ssh_lab: SshLab, ns_node: LabNode, public_dir: Path
) -> None:
    odd, good = public_dir / ("a\rb\u2028c\nd" + OSC_TITLE), public_dir / "good"  # \n: the kernel's \012
    odd.mkdir()
    good.mkdir()
    for source, target in ((f"evil{HOSTILE}", odd), ("scratch", good)):
        done = ns_exec(ns_node.process.pid, ["mount", "-t", "tmpfs", "-o", "size=1m", source, str(target)])
        assert done.returncode == 0, done.stderr
    specs = (MountSpec(str(good), fstype="tmpfs"), MountSpec(str(odd), fstype="tmpfs"))
    transport = SSHTransport(lab_node_model(ssh_lab, ns_node, mounts=specs))
    try:
        snapshot = await collect_mounts(transport, specs)
    finally:
        await transport.close()
    assert snapshot.error is None
    assert snapshot.unreadable_count == 0
    good_status, odd_status = snapshot.mounts
    assert (good_status.present, good_status.fstype_ok, good_status.responsive) == (True, True, "ok")
    assert (odd_status.present, odd_status.fstype_ok, odd_status.responsive) == (True, True, "ok")
    assert odd_status.entry is not None
    assert odd_status.entry.mount_point == str(public_dir) + "/a\\x0db\\u2028c\\nd\\x1b]0;pwned\\x07"
    assert odd_status.entry.source.startswith("evil\\x1b]0;pwned\\x07")
    assert_clean([status.entry for status in snapshot.mounts])


# --- the probe's state directory ------------------------------------------------------------------------


async def probe_root(lab: SshLab, node: LabNode, state_dir: str | None) -> tuple[str | None, str | None]:
    spec = MountSpec("/")
    transport = SSHTransport(lab_node_model(lab, node, mounts=(spec,)))
    try:
        snapshot = await collect_mounts(transport, (spec,), state_dir=state_dir)
    finally:
        await transport.close()
    (status,) = snapshot.mounts
    return status.responsive, status.probe_detail


async def test_another_users_directory_in_tmp_no_longer_blinds_the_probe(
    ssh_lab: SshLab, plain_node: LabNode
) -> None:
    """The old default, /tmp/opsconsole-mounts-UID, pre-created by someone else: it is not used at all."""
    user, nobody = pwd.getpwnam(LAB_USER), pwd.getpwnam("nobody")
    planted = f"/tmp/opsconsole-mounts-{user.pw_uid}"
    shutil.rmtree(planted, ignore_errors=True)
    os.mkdir(planted)
    os.chmod(planted, 0o777)
    os.chown(planted, nobody.pw_uid, nobody.pw_gid)
    try:
        responsive, detail = await probe_root(ssh_lab, plain_node, None)
    finally:
        shutil.rmtree(planted, ignore_errors=True)
    assert (responsive, detail) == ("ok", None)
    own = os.lstat(f"{user.pw_dir}/.cache/opsconsole-mounts")
    assert (own.st_uid, stat.S_IMODE(own.st_mode), stat.S_ISDIR(own.st_mode)) == (user.pw_uid, 0o700, True)


@pytest.mark.parametrize("planted", ["other-owner", "open-mode", "symlink", "file"])
async def test_a_state_directory_that_is_not_the_users_alone_is_reported(
    ssh_lab: SshLab, plain_node: LabNode, public_dir: Path, planted: str
) -> None:
    user, nobody = pwd.getpwnam(LAB_USER), pwd.getpwnam("nobody")
    state = public_dir / "state"
    why = {
        "other-owner": "is owned by another user",
        "open-mode": "is open to other users (want mode 0700)",
        "symlink": "is a symbolic link",
        "file": "is not a directory we can create",
    }[planted]
    if planted == "symlink":
        target = public_dir / "elsewhere"
        target.mkdir(mode=0o700)
        os.chown(target, user.pw_uid, user.pw_gid)
        state.symlink_to(target)
    elif planted == "file":
        state.write_text("")
    else:
        state.mkdir()
        owner = nobody if planted == "other-owner" else user
        os.chown(state, owner.pw_uid, owner.pw_gid)
        os.chmod(state, 0o777 if planted == "open-mode" else 0o700)
    responsive, detail = await probe_root(ssh_lab, plain_node, str(state))
    assert responsive is None  # no verdict from a directory we cannot trust
    assert detail == f"probe state directory unusable: {state} {why}"


async def test_a_garbled_line_hides_only_the_mount_it_names(ssh_lab: SshLab) -> None:
    """A node whose `cat` adds a garbled line to its real mount table (a stand-in first on the PATH)."""
    node = ssh_lab.start_node("mounts-garbled", gpu_capture=None)
    cat = node.bin_dir / "cat"
    cat.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = /proc/self/mountinfo ]; then\n'
        "  /bin/cat /proc/self/mountinfo\n"
        f"  printf '%s\\n' '40 25 0:99 / /mnt/garbled rw nfs4 atlas:/x{WIPE} rw'\n"
        "  exit 0\n"
        "fi\n"
        'exec /bin/cat "$@"\n'
    )
    cat.chmod(0o755)
    specs = (MountSpec("/"), MountSpec("/mnt/garbled", "atlas:/x"))
    transport = SSHTransport(lab_node_model(ssh_lab, node, mounts=specs))
    try:
        snapshot = await collect_mounts(transport, specs)
    finally:
        await transport.close()
        node.stop()
    assert snapshot.error is None
    root, garbled = snapshot.mounts
    assert (root.present, root.responsive, root.unreadable) == (True, "ok", None)
    assert not garbled.present
    assert garbled.unreadable is not None
    assert garbled.unreadable.startswith(
        "no ' - ' separator: 40 25 0:99 / /mnt/garbled rw nfs4 atlas:/x\\x1b[2J"
    )
    assert snapshot.unreadable_count == 1
    assert_clean(snapshot.unreadable_lines)
    # A path whose line could not be read is not known to be absent: unknown, not a critical "not mounted".
    results = {
        (result.check, result.target): (result.status, result.summary)
        for result in evaluate_mounts(lab_node_model(ssh_lab, node, mounts=specs), snapshot)
    }
    assert results[("nfs.mounted", "/")][0] == Status.OK
    status, summary = results[("nfs.mounted", "/mnt/garbled")]
    assert status == Status.UNKNOWN
    assert summary.startswith("mount table line for this path unreadable: no ' - ' separator")
    assert results[("nfs.responsive", "/mnt/garbled")] == (Status.SKIPPED, NOT_READ)


# --- numbers in the probe's answer ---------------------------------------------------------------------

HUGE = "9" * 5000  # past Python's int-string limit: int() raises ValueError


@pytest.mark.parametrize(
    ("stdout", "responsive"),
    [
        ("done 0 ² 5", "ok"),  # '²'.isdigit() is True, int('²') raises
        (f"done 0 1 {HUGE}", "ok"),
        ("done 0 5 1", "ok"),  # a clock that went backwards: no latency, not a negative one
        ("done 2 ² 5\nstat: cannot read file system information", "error"),
        (f"stuck 12 D ² {HUGE}", "hung"),
    ],
    ids=["superscript", "5000-digits", "backwards", "error-superscript", "stuck-since"],
)
def test_hostile_numbers_in_a_probe_answer_are_unknown_latencies(stdout: str, responsive: str) -> None:
    outcome = parse_probe_output(stdout, 3.0)
    assert outcome.responsive == responsive
    assert outcome.latency_s is None


def test_an_rpcinfo_line_cut_short_is_ignored() -> None:
    assert parse_rpc_detail("program 100003 version\n@@rpcinfo 0\n") == "rpcinfo: program 100003 version"


_HOSTILE_DATE = f"""#!/bin/sh
# date(1) for the probe: hostile nanoseconds for the mounts named bad-*, the real date otherwise.
if [ "$1" = "+%s%N" ]; then
  case $(tr '\\0' ' ' < /proc/$PPID/cmdline) in
    *bad-super*) echo '²'; exit 0 ;;
    *bad-huge*) echo '{HUGE}'; exit 0 ;;
  esac
fi
exec /bin/date "$@"
"""


async def test_hostile_probe_numbers_from_a_real_node_spoil_only_their_mount(
    ssh_lab: SshLab, ns_node: LabNode, public_dir: Path
) -> None:
    # Before: `done 0 ² …` raised ValueError out of collect_mounts, and the good mount's result was lost.
    date = ns_node.bin_dir / "date"
    date.write_text(_HOSTILE_DATE, encoding="utf-8")
    date.chmod(0o755)
    targets = [public_dir / name for name in ("good", "bad-super", "bad-huge")]
    for target in targets:
        target.mkdir()
        done = ns_exec(ns_node.process.pid, ["mount", "-t", "tmpfs", "-o", "size=1m", "t", str(target)])
        assert done.returncode == 0, done.stderr
    specs = tuple(MountSpec(str(target), fstype="tmpfs") for target in targets)
    transport = SSHTransport(lab_node_model(ssh_lab, ns_node, mounts=specs))
    try:
        snapshot = await collect_mounts(transport, specs)
    finally:
        await transport.close()
    assert snapshot.error is None
    good, super_, huge = snapshot.mounts
    assert (good.present, good.responsive) == (True, "ok")
    assert good.latency_s is not None
    # stat answered: ok, timed by our own round trip (an upper bound) since the node's clock was unreadable
    for status in (super_, huge):
        assert (status.present, status.responsive) == (True, "ok")
        assert status.latency_s is not None
        assert status.latency_s < 30
