"""Host vitals (CPU %, network rates) from the kept basics shell, checked against the real node's /proc."""

from __future__ import annotations

import asyncio
import math
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.collectors.basics import (
    STREAM_SCRIPT,
    NodeBasics,
    collect_basics,
    cpu_ticks,
    parse_report,
    with_rates,
)
from console.inventory.model import Node
from console.model.basics import DiskUse
from console.model.columns import RowInput
from console.model.docker import ContainerCost
from console.model.node import NodeSnapshot
from console.sections.basics_columns import COLUMNS, cells
from console.streams.basics_shell import BasicsStream
from console.transport import LocalTransport, SSHTransport
from tests.lab.models import lab_node_model
from tests.lab.netns import NetnsFleet
from tests.lab.sshd import LabNode, SshLab
from widgets.vitals import vitals_text

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
LINE = (
    "@@basics 1|0.5 0.4 0.3 1/100 42|{up} 10.0|cpu  {busy} 0 0 {idle} 0 0 0 0 0 0|{rx} {tx}|6.1|h|0-1|"
    " MemTotal:100"
)


def report(up: float, busy: int, idle: int, rx: int = 0, tx: int = 0) -> NodeBasics:
    line = LINE.format(up=up, busy=busy, idle=idle, rx=rx, tx=tx)
    return parse_report("n", line, taken_at=NOW)


def test_rates_are_deltas_and_the_first_read_has_none() -> None:
    first = with_rates(report(100.0, 1000, 1000, 5000, 100), None)
    assert (first.cpu_pct, first.net_rx_bps, first.net_tx_bps) == (None, None, None)
    second = with_rates(report(102.0, 1150, 1050, 25000, 300), report(100.0, 1000, 1000, 5000, 100))
    assert second.cpu_pct == pytest.approx(75.0)  # 150 busy of 200 ticks
    assert second.net_rx_bps == pytest.approx(10000.0)  # 20000 bytes over 2 s of the node's uptime
    assert second.net_tx_bps == pytest.approx(100.0)


def test_counters_that_went_backwards_or_no_time_give_no_rate() -> None:
    rebooted = with_rates(report(5.0, 10, 10, 10, 10), report(100.0, 1000, 1000, 5000, 100))
    assert (rebooted.cpu_pct, rebooted.net_rx_bps, rebooted.net_tx_bps) == (None, None, None)
    same = with_rates(report(100.0, 1000, 1000, 5000, 100), report(100.0, 1000, 1000, 5000, 100))
    assert (same.cpu_pct, same.net_rx_bps) == (None, None)


@pytest.mark.parametrize(
    "line",
    ["cpu  nan 0 0 1 0", "cpu", "cpu0 1 2 3 4", "cpu  -5 0 0 10", "", "intr 1 2 3 4 5"],
)
def test_an_unreadable_cpu_line_is_unknown(line: str) -> None:
    assert cpu_ticks(line) is None


def test_an_unreadable_network_sum_is_unknown_not_zero() -> None:
    basics = parse_report("n", LINE.format(up=1, busy=1, idle=1, rx="inf", tx=3), taken_at=NOW)
    assert basics.net_bytes is None
    later = parse_report("n", LINE.format(up=3, busy=2, idle=2, rx=10, tx=30), taken_at=NOW)
    assert with_rates(later, basics).net_rx_bps is None


def test_the_fullest_disk_is_the_one_with_the_highest_use() -> None:
    basics = NodeBasics(
        "n",
        NOW,
        disks=(
            DiskUse("/", None, 100, 60, 40),
            DiskUse("/scratch", None, 100, 10, 90),
            DiskUse("/x", error="e"),
        ),
    )
    assert basics.fullest_disk is not None
    assert basics.fullest_disk.path == "/scratch"
    assert NodeBasics("n", NOW).fullest_disk is None


def proc_stat_ticks() -> tuple[int, int]:
    ticks = cpu_ticks(Path("/proc/stat").read_text().splitlines()[0])
    assert ticks is not None
    return ticks


@pytest.fixture
def burner() -> Iterator[subprocess.Popen[bytes]]:
    """One core kept busy on the lab node (the plain node shares this machine's /proc and CPUs)."""
    process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


async def test_cpu_percent_over_ssh_matches_the_nodes_own_proc_stat(
    ssh_lab: SshLab, plain_node: LabNode, burner: subprocess.Popen[bytes]
) -> None:
    transport = SSHTransport(lab_node_model(ssh_lab, plain_node))
    stream = BasicsStream(transport, disks=())
    try:
        first = await stream.read()
        before = proc_stat_ticks()
        await asyncio.sleep(1.5)
        after = proc_stat_ticks()
        second = await stream.read()
    finally:
        await stream.close()
        await transport.close()
    assert first.error is None
    assert first.cpu_pct is None  # one sample: no delta yet, never a made-up number
    assert second.cpu_pct is not None
    truth = 100.0 * (after[0] - before[0]) / (after[1] - before[1])
    cpus = os.cpu_count() or 1
    assert second.cpu_pct >= 0.8 * 100.0 / cpus  # the burner's core at least
    assert second.cpu_pct == pytest.approx(truth, abs=15.0)
    assert stream.starts == 1  # both from the one kept shell


async def test_local_node_reads_the_same_vitals_in_process() -> None:
    stream = BasicsStream(LocalTransport("here"), disks=())
    first = await stream.read()
    await asyncio.sleep(0.3)
    second = await stream.read()
    assert first.cpu_pct is None
    assert second.cpu_pct is not None
    assert 0.0 <= second.cpu_pct <= 100.0
    assert second.net_bytes is not None
    assert second.net_rx_bps is not None
    assert math.isfinite(second.net_rx_bps)


def netns_dev(fleet: NetnsFleet, name: str) -> tuple[int, int]:
    text = subprocess.run(
        ["ip", "netns", "exec", name, "cat", "/proc/net/dev"], check=True, capture_output=True, text=True
    ).stdout
    for line in text.splitlines():
        interface, _, rest = line.partition(":")
        if interface.strip() == "eth0":
            words = rest.split()
            return int(words[0]), int(words[8])
    raise AssertionError("no eth0 in the host's namespace")


async def test_network_rates_follow_the_nodes_own_counters(ssh_lab: SshLab) -> None:
    with NetnsFleet(ssh_lab, 1) as fleet, fleet.enter():
        host = fleet.hosts[0]
        transport = SSHTransport(fleet.node_model(host))
        stream = BasicsStream(transport, disks=())
        try:
            first = await stream.read()
            rx_before, _ = netns_dev(fleet, host.netns)
            sent = 0
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:  # from the hub, to the host
                for _ in range(200):
                    sent += udp.sendto(b"x" * 30000, (host.host, 9))
            await asyncio.sleep(0.5)
            rx_after, _ = netns_dev(fleet, host.netns)
            second = await stream.read()
        finally:
            await stream.close()
            await transport.close()
    assert first.net_rx_bps is None
    assert first.net_bytes is not None
    assert second.net_bytes is not None
    assert second.net_rx_bps is not None
    received = second.net_bytes[0] - first.net_bytes[0]
    assert received >= sent  # every datagram crossed the host's eth0 (lo is never counted)
    assert received == pytest.approx(rx_after - rx_before, rel=0.2, abs=200_000)
    assert second.uptime_s is not None
    assert first.uptime_s is not None
    seconds = second.uptime_s - first.uptime_s
    assert second.net_rx_bps == pytest.approx(received / seconds)


async def test_one_shot_basics_have_counters_but_no_rates() -> None:
    basics = await collect_basics(LocalTransport("here"))
    assert basics.cpu_ticks is not None
    assert basics.cpu_pct is None


def row(basics: NodeBasics | None) -> RowInput:
    snapshot = NodeSnapshot("n", NOW, reachable=True, basics=basics)
    return RowInput(Node("n", "h"), snapshot)


def test_fleet_cells_show_the_vitals_and_sort_on_raw_values() -> None:
    basics = NodeBasics(
        "n",
        NOW,
        load=(3.456, 2.0, 1.0),
        mem_total_kib=512 * 1024 * 1024,
        mem_available_kib=128 * 1024 * 1024,
        cpu_pct=37.4,
        net_rx_bps=12.5 * 1024 * 1024,
        net_tx_bps=900.0,
        disks=(DiskUse("/", None, 100, 60, 40), DiskUse("/scratch", None, 100, 7, 93)),
        containers=(
            ContainerCost("a" * 64, "v1", cpu_pct=49.6, mem_used_bytes=3 * 1024 * 1024),
            ContainerCost("b" * 64, "v1", cpu_pct=None, mem_used_bytes=1024 * 1024),
        ),
    )
    values = cells(row(basics))
    shown = {key: value.text for key, value in values.items()}
    assert shown == {
        "host_cpu": "37%",
        "host_mem": "384G/512G",
        "host_load": "3.46",
        "host_disk": "93%",
        "host_net": "12M/900",
        "ctr_cost": "50% 4.0M",
    }
    assert values["host_mem"].sort == pytest.approx(75.0)
    assert values["host_disk"].sort == pytest.approx(93.0)
    assert {column.key for column in COLUMNS} == set(values)


def test_fleet_cells_before_the_second_read_are_dashes_not_zeros() -> None:
    first = NodeBasics("n", NOW, load=(0.0, 0.0, 0.0), mem_total_kib=100, mem_available_kib=100)
    values = cells(row(first))
    assert values["host_cpu"].text is None
    assert values["host_net"].text is None
    assert values["ctr_cost"].text is None
    assert values["host_disk"].text is None
    assert values["host_load"].text == "0.00"  # a real zero stays a zero
    assert cells(row(NodeBasics("n", NOW, error="no basics report within 5s"))) == {}
    assert cells(row(None)) == {}


def test_node_header_vitals_line() -> None:
    basics = NodeBasics(
        "n",
        NOW,
        load=(3.456, 2.0, 1.0),
        cpus=64,
        mem_total_kib=512 * 1024 * 1024,
        mem_available_kib=128 * 1024 * 1024,
        cpu_pct=37.4,
        net_rx_bps=12.5 * 1024 * 1024,
        net_tx_bps=900.0,
        uptime_s=3 * 86400 + 4 * 3600 + 59,
        disks=(DiskUse("/", None, 100, 60, 40), DiskUse("/scratch", error="no answer from statfs within 3s")),
    )
    text = vitals_text(basics)
    assert text is not None
    assert text.plain == (
        "CPU 37% of 64 · Mem 384G/512G · Load 3.46 2.00 1.00 · Disk / 40% /scratch – · Net ↓12M/s ↑900/s"
        " · up 3d 4h"
    )
    first = vitals_text(NodeBasics("n", NOW, mem_total_kib=100, mem_available_kib=50))
    assert first is not None
    assert first.plain == "CPU – · Mem 50K/100K · Load – · Net –"  # before the second read: dashes
    assert vitals_text(None) is None
    failed = vitals_text(NodeBasics("n", NOW, error="basics shell ended (exit 1)"))
    assert failed is not None
    assert failed.plain == "vitals: basics shell ended (exit 1)"


def test_a_host_name_with_backslashes_comes_back_as_it_is(tmp_path: Path) -> None:
    """The kernel allows any byte in a host name; dash's `echo` would cut the line at `\\c` (the report was
    lost) and turn `\\040` into a space. A UTS namespace of its own gives the shell such a name."""
    script = tmp_path / "basics.sh"
    script.write_text(STREAM_SCRIPT)
    name = r"gpu\c7|x\040y"
    result = subprocess.run(
        ["unshare", "--uts", "sh", "-c", 'printf %s "$1" > /proc/sys/kernel/hostname && exec dash "$2"', "-",
         name, str(script)],
        input="1\n", capture_output=True, text=True, check=True, timeout=10,
    )  # fmt: skip
    basics = parse_report("n", result.stdout.strip(), taken_at=NOW)
    assert basics.error is None
    assert basics.hostname == name
    assert basics.mem_total_kib is not None  # the rest of the line is there
