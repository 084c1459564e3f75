"""The mountinfo parser and the probe-output parsers, on real and realistic text (fixtures/mountinfo)."""

from __future__ import annotations

import re

import pytest

from console.collectors.mountinfo import (
    MountinfoParseError,
    is_network_fstype,
    nfs_server_host,
    parse_mountinfo,
    parse_mountinfo_line,
    split_nfs_source,
    unescape,
    visible_mounts,
)
from console.collectors.mounts import parse_probe_output, parse_rpc_detail, probe_command
from tests.conftest import FIXTURES

MOUNTINFO = FIXTURES / "mountinfo"
ATLAS_LINE = (
    "36 25 0:32 / /mnt/atlas/models ro,relatime shared:17 - nfs4 atlas:/export/models "
    "rw,vers=4.2,rsize=1048576,wsize=1048576,namlen=255,hard,proto=tcp,timeo=600,retrans=2,sec=sys,"
    "clientaddr=10.60.0.20,local_lock=none,addr=10.60.0.10"
)


def fixture(name: str) -> str:
    return (MOUNTINFO / name).read_text(encoding="utf-8")


def test_an_nfs4_line_has_every_field() -> None:
    entry = parse_mountinfo_line(ATLAS_LINE)
    assert (entry.mount_id, entry.parent_id, entry.major_minor, entry.root) == (36, 25, "0:32", "/")
    assert entry.mount_point == "/mnt/atlas/models"
    assert entry.mount_options == ("ro", "relatime")
    assert entry.optional_fields == ("shared:17",)
    assert (entry.fstype, entry.source) == ("nfs4", "atlas:/export/models")
    assert entry.super_options[0] == "rw"
    assert "hard" in entry.super_options
    assert entry.super_option("vers") == "4.2"
    assert entry.super_option("addr") == "10.60.0.10"
    assert entry.super_option("port") is None
    # The per-mount flag decides: ro over a superblock that is rw.
    assert entry.mode == "ro"
    assert entry.is_network


def test_a_compute_node_with_nfs_cifs_and_sshfs() -> None:
    entries = parse_mountinfo(fixture("compute-node-nfs.txt"))
    assert len(entries) == 22
    by_point = visible_mounts(entries)
    legacy = by_point["/mnt/legacy"]
    assert (legacy.fstype, legacy.source, legacy.mode) == ("nfs", "10.60.0.11:/srv/legacy", "rw")
    assert legacy.super_option("vers") == "3"
    assert legacy.mount_options == ("rw", "nosuid", "nodev", "relatime")
    team = by_point["/mnt/team share"]  # \040 in the mount point and in the source
    assert team.source == "[fd00:60::10]:/export/team share"
    assert split_nfs_source(team.source) == ("fd00:60::10", "/export/team share")
    assert team.mode == "ro"
    bind = by_point["/srv/models tab\\back"]  # \011 (a tab, shown as a space) and \134
    assert (bind.root, bind.optional_fields) == ("/checkpoints", ("shared:17", "master:5"))
    assert by_point["/mnt/nas"].source == "//nas.lan/media"
    assert by_point["/mnt/lab"].fstype == "fuse.nfs4"
    network = sorted(entry.mount_point for entry in entries if entry.is_network)
    assert network == sorted(
        [
            "/mnt/atlas/models",
            "/mnt/atlas/datasets",
            "/mnt/legacy",
            "/mnt/team share",
            "/mnt/nas",
            "/home/ops/remote",
            "/mnt/lab",
            "/srv/models tab\\back",
        ]
    )
    # Not network filesystems, whatever their names suggest.
    assert {by_point["/proc/fs/nfsd"].fstype, by_point["/run/rpc_pipefs"].fstype} == {"nfsd", "rpc_pipefs"}
    assert not by_point["/proc/fs/nfsd"].is_network
    assert not by_point["/run/rpc_pipefs"].is_network
    assert by_point["/proc/sys/fs/binfmt_misc"].source == "systemd-1"


def test_the_lab_nodes_fuse_nfs4_mounts_as_captured() -> None:
    entries = parse_mountinfo(fixture("lab-node-fuse-nfs4.txt"))
    fuse = [entry for entry in entries if entry.fstype == "fuse.nfs4"]
    assert [(entry.mode, entry.source) for entry in fuse] == [
        ("ro", "127.0.0.1:/export/models"),
        ("rw", "127.0.0.1:/export/scratch space"),
    ]
    assert fuse[1].mount_point.endswith("/mnt/atlas/scratch space")
    assert "allow_other" in fuse[0].super_options
    assert all(entry.is_network for entry in fuse)
    assert nfs_server_host(fuse[1].source) == "127.0.0.1"


def test_a_stacked_mount_point_shows_the_top_mount() -> None:
    entries = parse_mountinfo(fixture("debian12-sandbox.txt"))
    shm = [entry for entry in entries if entry.mount_point == "/dev/shm"]
    assert [entry.mount_id for entry in shm] == [25, 30]
    assert visible_mounts(entries)["/dev/shm"].mount_id == 30


def test_this_machines_live_mountinfo() -> None:
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as fh:
        entries = parse_mountinfo(fh.read())
    by_point = visible_mounts(entries)
    assert by_point["/"].mode in ("ro", "rw")
    assert by_point["/proc"].fstype == "proc"
    # Every escape was undone (ismount is no test: a dockerd bind-mounts its data root onto itself).
    assert not any(re.search(r"\\[0-7]{3}", point) for point in by_point)
    assert len({entry.mount_id for entry in entries}) == len(entries)


@pytest.mark.parametrize(
    ("escaped", "plain"),
    [
        ("/a\\040b", "/a b"),
        ("/tab\\011x", "/tab\tx"),
        ("/nl\\012", "/nl\n"),
        ("/bs\\134", "/bs\\"),
        ("/x", "/x"),
    ],
)
def test_unescape(escaped: str, plain: str) -> None:
    assert unescape(escaped) == plain


def test_a_line_without_optional_fields_or_superblock_options() -> None:
    entry = parse_mountinfo_line("50 1 0:60 / /mnt/x rw - fuse.nfs4 atlas:/export/x")
    assert entry.optional_fields == ()
    assert entry.super_options == ()
    assert (entry.fstype, entry.source, entry.mode) == ("fuse.nfs4", "atlas:/export/x", "rw")


@pytest.mark.parametrize(
    "line",
    [
        "",
        "36 25 0:32 / /mnt ro,relatime nfs4 atlas:/x rw",
        "x 25 0:32 / /mnt ro - nfs4 atlas:/x rw",
        "1 2 - nfs",
    ],
)
def test_a_broken_line_is_an_error(line: str) -> None:
    with pytest.raises(MountinfoParseError):
        parse_mountinfo_line(line)


@pytest.mark.parametrize(
    ("source", "host"),
    [
        ("atlas:/export/models", "atlas"),
        ("10.60.0.10:/", "10.60.0.10"),
        ("[fd00::10]:/x", "fd00::10"),
        ("//nas/share", None),
        ("/dev/sda1", None),
        ("tmpfs", None),
        ("ops@bastion:/data", "ops@bastion"),  # sshfs: callers ask only of NFS sources
        (None, None),
    ],
)
def test_nfs_server_host(source: str | None, host: str | None) -> None:
    assert nfs_server_host(source) == host


def test_network_fstypes() -> None:
    for fstype in ("nfs", "nfs4", "fuse.nfs4", "cifs", "smb3", "fuse.sshfs", "ceph"):
        assert is_network_fstype(fstype), fstype
    for fstype in ("nfsd", "rpc_pipefs", "ext4", "tmpfs", "fuse", "fuse.portal", "overlay", "autofs"):
        assert not is_network_fstype(fstype), fstype


# What the remote probe prints (console/collectors/mounts.py), parsed


def test_probe_output_ok_carries_the_latency() -> None:
    outcome = parse_probe_output("done 0 1795374310135572750 1795374310142290628\n", timeout=5)
    assert outcome.responsive == "ok"
    assert outcome.latency_s == pytest.approx(0.006717878)


def test_probe_output_errors_are_fatal_only_when_the_mount_is_unusable() -> None:
    stale = parse_probe_output(
        "done 1 1 2\nstat: cannot read file system information for '/mnt/a': Stale file handle\n", timeout=5
    )
    assert (stale.responsive, stale.fatal) == ("error", True)
    assert "Stale file handle" in (stale.detail or "")
    denied = parse_probe_output(
        "done 1 1 2\nstat: cannot read file system information for '/mnt/a': Permission denied\n", timeout=5
    )
    assert (denied.responsive, denied.fatal) == ("error", False)


def test_probe_output_stuck_from_an_earlier_poll_is_hung() -> None:
    outcome = parse_probe_output("stuck 4711 D 1795374300 1795374337\n", timeout=5)
    assert outcome.responsive == "hung"
    assert outcome.detail == "a probe from an earlier poll (pid 4711, state D) blocked for 37s"


@pytest.mark.parametrize("stdout", ["", "state-error /tmp/opsconsole-mounts-1001\n", "garbage\n"])
def test_probe_output_that_says_nothing_is_not_a_verdict(stdout: str) -> None:
    outcome = parse_probe_output(stdout, timeout=5)
    assert outcome.responsive is None
    assert outcome.detail


def test_probe_command_quotes_the_path() -> None:
    command = probe_command("/mnt/it's here", timeout=2.5)
    assert "'/mnt/it'\"'\"'s here'" in command
    assert command.startswith("LC_ALL=C timeout -s KILL 4 sh -c ")


def test_rpc_detail() -> None:
    stdout = (
        "program 100003 version 3 ready and waiting\nprogram 100003 version 4 ready and waiting\n"
        "@@rpcinfo 0\n"
        "/srv/export (everyone)\n/srv/other 10.60.0.0/24\n@@showmount 0\n"
    )
    assert parse_rpc_detail(stdout) == "rpcinfo: NFS v3, v4; exports: /srv/export, /srv/other"
    refused = "rpcinfo: can't contact rpcbind: : RPC: Remote system error - Connection refused\n@@rpcinfo 1\n"
    assert parse_rpc_detail(refused + "clnt_create: RPC: Unable to receive\n@@showmount 1\n") == (
        "rpcinfo: rpcinfo: can't contact rpcbind: : RPC: Remote system error - Connection refused"
    )
    assert parse_rpc_detail("") is None
