"""Node basics from real /proc: locally, over a real sshd, and through the kept shell (console/streams)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.collectors.basics import (
    DiskUse,
    NodeBasics,
    collect_basics,
    collect_disks,
    count_cpus,
    disk_command,
    disk_paths,
    parse_disks,
    parse_report,
    report_line,
)
from console.sections import BASICS  # declares the read-only commands of the basics reads
from console.streams.basics_shell import BasicsStream
from console.transport import LocalTransport, SSHTransport
from console.transport.readonly import is_read_only
from tests.lab.models import lab_node_model
from tests.lab.sshd import LabNode, SshLab


def meminfo_kib(key: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name == key:
            return int(rest.split()[0])
    raise KeyError(key)


def online_cpus() -> int:
    text = Path("/sys/devices/system/cpu/online").read_text()
    return sum(
        int(b) - int(a) + 1 if "-" in part else 1
        for part in text.strip().split(",")
        for a, _, b in [part.partition("-")]
    )


def assert_is_this_machine(basics: NodeBasics) -> None:
    assert basics.error is None
    assert basics.kernel == os.uname().release
    assert basics.hostname == os.uname().nodename
    assert basics.mem_total_kib == meminfo_kib("MemTotal")
    assert basics.swap_total_kib == meminfo_kib("SwapTotal")
    assert basics.mem_available_kib is not None
    assert 0 < basics.mem_available_kib <= basics.mem_total_kib
    assert basics.cpus == online_cpus()
    assert basics.load is not None
    assert all(value >= 0 for value in basics.load)
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    assert basics.uptime_s is not None
    assert abs(basics.uptime_s - uptime) < 30


async def test_local_node_reads_this_machines_proc_in_process() -> None:
    basics = await collect_basics(LocalTransport("here"), disks=("/", "/no/such/scratch"), timeout=10)
    assert_is_this_machine(basics)
    assert basics.mem_used_pct is not None
    assert 0 < basics.mem_used_pct < 100
    root, missing = basics.disks
    assert root.total_bytes == os.statvfs("/").f_blocks * os.statvfs("/").f_frsize
    assert missing.error == "No such file or directory"


async def test_report_over_ssh_reads_the_nodes_proc(ssh_lab: SshLab, plain_node: LabNode) -> None:
    transport = SSHTransport(lab_node_model(ssh_lab, plain_node))
    try:
        basics = await collect_basics(transport, disks=("/",))
    finally:
        await transport.close()
    assert_is_this_machine(basics)  # the lab's sshd runs on this machine
    (root,) = basics.disks
    statvfs = os.statvfs("/")
    assert root.error is None
    assert root.total_bytes == statvfs.f_blocks * statvfs.f_frsize
    assert root.fstype
    assert root.used_pct is not None
    assert 0 < root.used_pct < 100
    assert basics.disks_at is not None


async def test_kept_shell_answers_every_read_without_a_new_shell(
    ssh_lab: SshLab, plain_node: LabNode
) -> None:
    transport = SSHTransport(lab_node_model(ssh_lab, plain_node))
    stream = BasicsStream(transport, disks=("/",), disk_every=3600)
    try:
        first = await stream.read(wait_disks=True)
        second = await stream.read()
        third = await stream.read()
    finally:
        await stream.close()
        await transport.close()
    assert_is_this_machine(first)
    assert (stream.starts, stream.reports, stream.disk_reads) == (1, 3, 1)
    assert second.taken_at < third.taken_at
    assert third.disks == first.disks  # disk use is read once per disk_every, and rides along
    assert transport.budget.in_use == 0  # the shell's channel went back when closed


async def test_an_abandoned_request_does_not_shift_later_answers(
    ssh_lab: SshLab, plain_node: LabNode
) -> None:
    transport = SSHTransport(lab_node_model(ssh_lab, plain_node))
    stream = BasicsStream(transport, disks=())
    try:
        await stream.read()
        lines = await stream._shell()
        lines.write("99\n")  # a request whose answer nobody reads (a cancelled poll)
        answer = await stream.read()
        again = await stream.read()
    finally:
        await stream.close()
        await transport.close()
    assert answer.error is None
    assert again.error is None
    assert stream.starts == 1
    assert again.taken_at > answer.taken_at


async def test_missing_scratch_path_is_an_error_for_that_path_only(
    ssh_lab: SshLab, plain_node: LabNode
) -> None:
    transport = SSHTransport(lab_node_model(ssh_lab, plain_node))
    try:
        disks = await collect_disks(transport, ("/", "/no/such/scratch"))
    finally:
        await transport.close()
    root, missing = disks
    assert root.error is None
    assert missing.path == "/no/such/scratch"
    assert missing.error is not None
    assert "No such file" in missing.error


def test_disk_paths_keep_root_first_and_never_take_an_inventory_mount() -> None:
    assert disk_paths(["/data/nfs/cache", "/data/nfs2"], ["/data/nfs/"]) == ("/", "/data/nfs2")
    paths = disk_paths(["/scratch/", "/data/nfs", "relative", "/scratch", "/"], ["/data/nfs"])
    assert paths == ("/", "/scratch")


def test_disk_command_is_a_registered_read() -> None:
    assert BASICS.read_only_commands
    assert is_read_only(disk_command(("/", "/scratch")))
    assert not is_read_only(disk_command(("/", "/scratch")) + "; rm -rf /")


def test_statfs_cut_by_the_remote_timeout_says_so() -> None:
    disks = parse_disks(("/", "/scratch"), "/|ext2/ext3|4096|100|50|40\n", "", 137)
    assert disks[0] == DiskUse("/", "ext2/ext3", 409600, 163840, 204800)
    assert disks[1].error == "no answer from statfs within 3s"


@pytest.mark.parametrize(
    ("text", "count"), [("0-127\n", 128), ("0\n", 1), ("0,2-5,7", 6), ("", None), ("3-1", None)]
)
def test_online_cpu_ranges(text: str, count: int | None) -> None:
    assert count_cpus(text) == count


def test_a_report_cut_short_is_an_error() -> None:
    text = "@@basics 7|0.10 0.20 0.30 1/100 42|1234.56 78.9"
    assert report_line(text, "7") == text
    assert report_line(text, "8") is None
    basics = parse_report("n", report_line(text, "7"), taken_at=datetime.now(UTC))
    assert basics.error == "incomplete basics report"
    assert basics.load is None


def test_a_report_line_with_values_missing_keeps_the_rest() -> None:
    line = "@@basics -|0.10 0.20 0.30 1/100 42||||6.1.0-13-amd64|gpu7|| MemTotal:1000 MemAvailable:250"
    basics = parse_report("n", line, taken_at=datetime.now(UTC))
    assert basics.error is None
    assert (basics.cpu_ticks, basics.net_bytes) == (None, None)
    assert basics.load == (0.1, 0.2, 0.3)
    assert (basics.uptime_s, basics.cpus, basics.swap_total_kib) == (None, None, None)
    assert (basics.kernel, basics.hostname, basics.mem_used_pct) == ("6.1.0-13-amd64", "gpu7", 75.0)
