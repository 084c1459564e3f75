"""The hardware section: its parsers on real inputs (this machine's /proc/cpuinfo and /proc/meminfo, the H100
capture for nvidia-smi, os-release files in tests/fixtures/os-release), the profile comparison's words and
tolerances, the inventory key, and a real lab sshd node read end to end, whose real /proc values (read here
directly) make one profile that passes and one that fails with the right words.

The lab node's nvidia-smi is a stand-in that prints the `name, memory.total` columns of the real H100 capture
(tests/fixtures/gpu/h100-80gb-hbm3/idle-query-gpu-noheader-nounits.csv): no GPU here. Its /etc/os-release is
Rocky 9.3's and its /sys/fs/selinux/enforce says 1, both bind-mounted in the node's own mount namespace.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.actions import AuditLog
from console.checks.model import Status
from console.checks.runner import run_checks
from console.collectors.hardware import (
    HARDWARE_COMMAND,
    parse_cpuinfo,
    parse_gpus,
    parse_hardware,
    parse_meminfo,
    parse_nics,
    parse_os_release,
    parse_selinux,
)
from console.inventory import InventoryError, load_inventory
from console.inventory.locate import bundled_inventory
from console.inventory.model import Inventory, Node
from console.model.hardware import (
    GpuInfo,
    GpuProfile,
    HardwareProfile,
    HardwareSnapshot,
    NicInfo,
    NicProfile,
    OsRelease,
    compare,
)
from console.model.stack import Finding
from console.sections.stream import Poll
from console.streams.hardware import HardwareStream
from console.streams.source import StreamingSource
from console.transport import SSHTransport
from console.transport.local import LocalTransport
from console.transport.readonly import is_read_only
from console.wizards.bringup import bringup_wizard
from console.wizards.engine import NodeContext, run_wizard
from console.wizards.fix_model import FixInput
from console.wizards.fixes_docker import nvidia_runtime_wizard
from console.wizards.os_family import refusal
from console.wizards.settings import stack_settings
from tests.lab.daemon import ns_exec
from tests.lab.models import lab_node_model
from tests.lab.node import LabNode
from tests.lab.sshd import SshLab

FIXTURES = Path(__file__).parent / "fixtures"
H100 = FIXTURES / "gpu" / "h100-80gb-hbm3" / "idle-query-gpu-noheader-nounits.csv"
OS_RELEASE = FIXTURES / "os-release"
NOW = datetime(2026, 12, 6, tzinfo=UTC)


def h100_lines() -> list[str]:
    """The capture's `name, memory.total` columns: what `--query-gpu=name,memory.total` prints."""
    rows = [line.split(", ") for line in H100.read_text(encoding="utf-8").splitlines() if line]
    return [f"{row[2]}, {row[8]}" for row in rows]


def online_cpus() -> list[int]:
    """/sys/devices/system/cpu/online: "0-3,8-11"."""
    cpus: list[int] = []
    for part in Path("/sys/devices/system/cpu/online").read_text().strip().split(","):
        first, _, last = part.partition("-")
        cpus.extend(range(int(first), int(last or first) + 1))
    return cpus


def topology() -> tuple[int, int]:
    """(physical cores, logical CPUs) of this machine from sysfs, a source other than /proc/cpuinfo."""
    pairs = set()
    cpus = online_cpus()
    for cpu in cpus:
        where = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        pairs.add(((where / "physical_package_id").read_text(), (where / "core_id").read_text()))
    return len(pairs), len(cpus)


# --- parsers on real inputs -------------------------------------------------------------------------


def test_this_machines_cpuinfo() -> None:
    text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    model, cores, threads, sockets = parse_cpuinfo(text)
    first = next(line for line in text.splitlines() if line.startswith("model name"))
    assert model == " ".join(first.partition(":")[2].split())
    assert (cores, threads) == topology()
    assert threads == os.cpu_count()
    assert sockets is not None
    assert sockets >= 1


def test_two_sockets_with_threads_and_a_vm_without_core_ids() -> None:
    block = "processor\t: {n}\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9655 96-Core Processor\n"
    ids = "physical id\t: {p}\nsiblings\t: 4\ncore id\t\t: {c}\ncpu cores\t: 2\n\n"
    text = "".join((block + ids).format(n=n, p=n // 4, c=n % 2) for n in range(8))
    assert parse_cpuinfo(text) == ("AMD EPYC 9655 96-Core Processor", 4, 8, 2)
    vm = "".join(block.format(n=n) + "\n" for n in range(3))
    assert parse_cpuinfo(vm) == ("AMD EPYC 9655 96-Core Processor", None, 3, None)


def test_this_machines_meminfo() -> None:
    kib = parse_meminfo(Path("/proc/meminfo").read_text(encoding="utf-8"))
    assert kib is not None
    assert kib * 1024 == os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert parse_meminfo("MemTotal:       nan kB\n") is None
    assert parse_meminfo("MemTotal:       inf kB\n") is None
    assert parse_meminfo("MemFree: 12 kB\n") is None


def test_nvidia_smi_from_the_h100_capture() -> None:
    assert parse_gpus(h100_lines(), "0") == ((GpuInfo("NVIDIA H100 80GB HBM3", 81559.0),), None)
    assert parse_gpus(h100_lines() * 4, "0")[0] == (GpuInfo("NVIDIA H100 80GB HBM3", 81559.0),) * 4
    assert parse_gpus(["NVIDIA H100 80GB HBM3, [N/A]"], "0") == (
        (GpuInfo("NVIDIA H100 80GB HBM3", None),),
        None,
    )
    failed = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."
    assert parse_gpus([failed], "9") == (None, f"nvidia-smi exited 9: {failed}")
    assert parse_gpus([], "137") == (None, "nvidia-smi no answer within 10s")
    assert parse_gpus([], "absent") == (None, "no nvidia-smi on the node")


def test_nics_speeds_and_links_down() -> None:
    lines = ["eth0 25000 device", "eth1 -1 device", "docker0 - virtual", "lo - virtual", "bad line"]
    assert parse_nics(lines) == (
        NicInfo("eth0", 25000.0, True),
        NicInfo("eth1", None, True),
        NicInfo("docker0", None, False),
        NicInfo("lo", None, False),
    )


def test_os_release_files_and_selinux() -> None:
    rocky = parse_os_release((OS_RELEASE / "rocky-9.3").read_text(encoding="utf-8"))
    assert (rocky.id, rocky.id_like, rocky.version_id) == ("rocky", ("rhel", "centos", "fedora"), "9.3")
    assert (rocky.family, rocky.described) == ("rhel", "Rocky Linux 9.3")
    assert rocky.pretty_name == "Rocky Linux 9.3 (Blue Onyx)"
    ubuntu = parse_os_release((OS_RELEASE / "ubuntu-24.04").read_text(encoding="utf-8"))
    assert (ubuntu.family, ubuntu.described) == ("debian", "Ubuntu 24.04")
    debian = parse_os_release((OS_RELEASE / "debian-12").read_text(encoding="utf-8"))
    assert (debian.family, debian.described) == ("debian", "Debian GNU/Linux 12")
    assert [parse_selinux(v) for v in ("1\n", "0", "absent", "2")] == [
        "enforcing",
        "permissive",
        "disabled",
        None,
    ]


def test_hostile_node_text_is_cleaned_and_capped() -> None:
    mark = "@@@opsconsole-hw"
    out = (
        f"{mark} cpuinfo\nprocessor : 0\nmodel name : Evil\x1b[31m CPU {'x' * 5000}\n{mark} meminfo\n"
        f"MemTotal: NaN kB\n{mark} gpus\nGPU\x07 one, 81559\n{mark} rc 0\n{mark} nics\n"
        f'eth\x1b0 25000 device\n{mark} os-release\nNAME="Rocky\x1b]0;pwned\x07"\nVERSION_ID=9.3\n'
        f"{mark} selinux\nabsent\n{mark} end\n"
    )
    seen = parse_hardware("n", out, taken_at=NOW)
    assert seen.cpu_model is not None
    assert "\x1b" not in seen.cpu_model
    assert len(seen.cpu_model) <= 200
    assert seen.memory_kib is None
    assert seen.gpus is not None
    assert "\x07" not in seen.gpus[0].name
    assert "\x1b" not in seen.nics[0].name
    assert seen.os is not None
    assert seen.os.name is not None
    assert "\x1b" not in seen.os.name


# --- the comparison's words and tolerances ----------------------------------------------------------

GIB = 1024**2  # KiB


def node_with(**fields: object) -> HardwareSnapshot:
    base: dict[str, object] = {
        "cpu_model": "AMD EPYC 9655 96-Core Processor",
        "cpu_cores": 192,
        "cpu_threads": 384,
        "memory_kib": 755 * GIB,  # 768 GiB installed less the kernel's reservations (1.7 %)
        "gpus": (GpuInfo("NVIDIA RTX PRO 6000 Blackwell Server Edition", 97887.0),) * 4,
        "nics": (NicInfo("eth1", 25000.0, True),),
    }
    base.update(fields)
    return HardwareSnapshot("n", NOW, **base)  # type: ignore[arg-type]


PROFILE = HardwareProfile(
    cpu_model="EPYC 9655",
    cpu_cores=192,
    memory_gb=768,
    gpus=GpuProfile(4, "RTX PRO 6000", 96),
    nics=(NicProfile("eth1", 25),),
)


def test_a_node_as_profiled_differs_in_nothing() -> None:
    assert compare(PROFILE, node_with()) == ([], [])


def test_each_difference_in_words() -> None:
    seen = node_with(
        memory_kib=512 * GIB,
        nics=(NicInfo("eth1", 10000.0, True),),
        gpus=(GpuInfo("NVIDIA RTX PRO 6000 Blackwell Server Edition", 97887.0),) * 3,
        cpu_cores=128,
        cpu_model="AMD EPYC 9554 64-Core Processor",
    )
    assert compare(PROFILE, seen) == (
        [
            "CPU AMD EPYC 9554 64-Core Processor, profile says EPYC 9655",
            "128 CPU cores, profile says 192",
            "memory 512 GB, profile says 768",
            "3 GPUs, profile says 4",
            "eth1 at 10 Gb/s, profile says 25",
        ],
        [],
    )
    gone = node_with(nics=(NicInfo("eth1", None, True),), gpus=None, notes=("no nvidia-smi on the node",))
    assert compare(PROFILE, gone)[0] == [
        "no nvidia-smi on the node, profile says 4 GPUs",
        "eth1 has no link speed (down?), profile says 25 Gb/s",
    ]
    assert compare(PROFILE, node_with(nics=()))[0] == ["no eth1, profile says 25 Gb/s"]


def test_memory_tolerance_is_the_kernels_reservations() -> None:
    memory = HardwareProfile(memory_gb=768)
    assert compare(memory, node_with(memory_kib=0.965 * 768 * GIB)) == ([], [])  # 3.5 % reserved: fine
    assert compare(memory, node_with(memory_kib=736 * GIB))[0] == [
        "memory 736 GB, profile says 768"
    ]  # a DIMM
    assert compare(memory, node_with(memory_kib=1024 * GIB))[0] == ["memory 1024 GB, profile says 768"]


def test_gpu_memory_as_nvidia_smi_reports_it() -> None:
    l40s = node_with(gpus=(GpuInfo("NVIDIA L40S", 46068.0),) * 2)  # 48 GB sold, ECC takes 1/16
    assert compare(HardwareProfile(gpus=GpuProfile(2, "L40S", 48)), l40s) == ([], [])
    h100 = node_with(gpus=parse_gpus(h100_lines(), "0")[0])
    assert compare(HardwareProfile(gpus=GpuProfile(1, "H100", 80)), h100) == ([], [])
    assert compare(HardwareProfile(gpus=GpuProfile(1, "RTX PRO 6000", 96)), h100)[0] == [
        "GPU 0 is NVIDIA H100 80GB HBM3, profile says RTX PRO 6000",
        "GPU 0 has 79.6 GB, profile says 96",
    ]


# --- the inventory key ------------------------------------------------------------------------------


def test_the_inventory_key_merges_and_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "hw.yaml"
    path.write_text(
        "version: 1\ndefaults:\n  hardware: {cpu_model: EPYC 9655, cpu_cores: 192, memory_gb: 768}\nnodes:\n"
        "  a:\n    host: a\n    hardware: {gpus: {count: 4, model: RTX PRO 6000, memory_gb: 96},"
        " nics: [{name: eth1, speed_gbps: 25}]}\n  b: {host: b}\n",
        encoding="utf-8",
    )
    a, b = load_inventory(path).nodes
    assert a.settings("hardware") == PROFILE
    assert b.settings("hardware") == HardwareProfile("EPYC 9655", 192, 768)
    path.write_text(
        "version: 1\nnodes:\n  a:\n    host: a\n"
        "    hardware: {cpu_cores: 0, gpus: {count: -1}, nics: [{name: a/b, speed_gbps: 0}], ram: 1}\n",
        encoding="utf-8",
    )
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    assert [str(problem).split(": ", 1)[1] for problem in caught.value.errors] == [
        "nodes.a.hardware.cpu_cores: must be 1 or more",
        "nodes.a.hardware.gpus.count: must be 0 or more",
        "nodes.a.hardware.nics[0].name: is not a network interface name",
        "nodes.a.hardware.nics[0].speed_gbps: must be greater than 0",
        "nodes.a.hardware.ram: unknown key",
    ]


def test_docs_name_every_hardware_key() -> None:
    docs = (Path(__file__).resolve().parents[1] / "docs" / "inventory.md").read_text(encoding="utf-8")
    keys = {"hardware"} | {
        f.name for tp in (HardwareProfile, GpuProfile, NicProfile) for f in dataclasses.fields(tp)
    }
    assert sorted(key for key in keys if f"`{key}`" not in docs) == []


def test_the_read_only_wrapper_allows_exactly_the_command() -> None:
    assert is_read_only(HARDWARE_COMMAND)
    assert not is_read_only(HARDWARE_COMMAND + "; touch /tmp/x")
    assert not is_read_only(HARDWARE_COMMAND.replace("/proc/meminfo", "/etc/shadow"))


# --- a real lab node ---------------------------------------------------------------------------------

STAND_IN = """#!/bin/sh
# nvidia-smi stand-in: the real H100 capture's name and memory.total columns, for this one query only.
[ "$*" = "--query-gpu=name,memory.total --format=csv,noheader,nounits" ] || { echo "unexpected: $*"; exit 2; }
awk -F ', ' '{ print $3 ", " $9 }' {capture}
"""


@pytest.fixture(scope="module")
def rocky_node(ssh_lab: SshLab) -> Iterator[tuple[LabNode, str]]:
    """A lab node with an H100 stand-in, Rocky 9.3's os-release, SELinux enforcing, and a veth pair up (a
    link with a speed: 10000 Mb/s) named for this test."""
    base = Path(tempfile.mkdtemp(prefix="opsconsole-hw-"))
    os.chmod(base, 0o755)
    veth = f"opshw{os.getpid() % 100000}"
    node = ssh_lab.start_node("hw1", gpu_capture=None, mount_namespace=True)
    try:
        capture = base / "h100.csv"
        shutil.copyfile(H100, capture)
        os.chmod(capture, 0o644)
        smi = node.bin_dir / "nvidia-smi"
        smi.write_text(STAND_IN.replace("{capture}", str(capture)), encoding="utf-8")
        os.chmod(smi, 0o755)
        release = base / "os-release"
        shutil.copyfile(OS_RELEASE / "rocky-9.3", release)
        os.chmod(release, 0o644)
        (base / "fs" / "selinux").mkdir(parents=True)
        (base / "fs" / "selinux" / "enforce").write_text("1", encoding="utf-8")
        for path in (base / "fs", base / "fs" / "selinux", base / "fs" / "selinux" / "enforce"):
            os.chmod(path, 0o755)
        for source, target in ((release, "/etc/os-release"), (base / "fs", "/sys/fs")):
            done = ns_exec(node.process.pid, ["mount", "--bind", str(source), target])
            assert done.returncode == 0, done.stderr
        subprocess.run(["ip", "link", "add", veth, "type", "veth", "peer", "name", veth + "p"], check=True)
        subprocess.run(["ip", "link", "set", veth, "up"], check=True)
        subprocess.run(["ip", "link", "set", veth + "p", "up"], check=True)
        yield node, veth
    finally:
        subprocess.run(["ip", "link", "del", veth], check=False, capture_output=True)
        node.stop()
        shutil.rmtree(base, ignore_errors=True)


def memtotal_gib() -> float:
    return int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0]) / GIB


def shown(gib: float) -> str:
    """A size as the check says it: whole where it is, else one decimal."""
    return f"{gib:.0f}" if abs(gib - round(gib)) < 0.05 else f"{gib:.1f}"


def real_profile(veth: str) -> HardwareProfile:
    """This machine's own hardware, read here directly: the lab node runs on it."""
    text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    model = next(line for line in text.splitlines() if line.startswith("model name")).partition(":")[2]
    cores, _ = topology()
    installed = round(memtotal_gib() / 0.98)  # MemTotal is ~98 % of installed RAM on this kind of machine
    return HardwareProfile(
        cpu_model=model.strip(),
        cpu_cores=cores,
        memory_gb=installed,
        gpus=GpuProfile(1, "H100", 80),
        nics=(NicProfile(veth, 10),),
    )


async def test_a_lab_node_against_profiles_that_pass_and_fail(
    ssh_lab: SshLab, rocky_node: tuple[LabNode, str]
) -> None:
    node, veth = rocky_node
    good = real_profile(veth)
    assert good.cpu_cores is not None
    assert good.memory_gb is not None
    bad = dataclasses.replace(
        good,
        cpu_cores=good.cpu_cores + 2,
        memory_gb=good.memory_gb * 2,
        gpus=GpuProfile(4, "H100", 80),
        nics=(NicProfile(veth, 25), NicProfile("eth9", 100)),
    )
    nodes = (
        dataclasses.replace(lab_node_model(ssh_lab, node), name="good", plugins=(("hardware", good),)),
        dataclasses.replace(lab_node_model(ssh_lab, node), name="bad", plugins=(("hardware", bad),)),
    )
    inventory = Inventory("lab", "lab.yaml", nodes)
    source = StreamingSource(inventory, one_shot=True, read_only=True)  # --check's source
    try:
        report = await run_checks(inventory, source, timeout=20, fleet_checks=False)
        snapshot = await source.poll(nodes[0])
    finally:
        await source.close()
    results = {(r.node, r.check): r for r in report.results}
    assert results["good", "hardware.profile"].status is Status.OK, results["good", "hardware.profile"]
    assert results["bad", "hardware.profile"].status is Status.WARNING
    assert results["bad", "hardware.profile"].summary == "; ".join(
        [
            f"{good.cpu_cores} CPU cores, profile says {good.cpu_cores + 2}",
            f"memory {shown(memtotal_gib())} GB, profile says {good.memory_gb * 2}",
            "1 GPU, profile says 4",
            f"{veth} at 10 Gb/s, profile says 25",
            "no eth9, profile says 100 Gb/s",
        ]
    )
    seen = snapshot.hardware
    assert seen is not None
    assert seen.os is not None
    assert (seen.os.described, seen.os.family, seen.selinux) == ("Rocky Linux 9.3", "rhel", "enforcing")


async def test_read_once_per_connection_then_again_on_a_new_one(
    ssh_lab: SshLab, rocky_node: tuple[LabNode, str]
) -> None:
    node, _ = rocky_node
    model = lab_node_model(ssh_lab, node)
    source = StreamingSource(Inventory("lab", "lab.yaml", (model,)))
    try:
        for _ in range(4):
            snapshot = await source.poll(model)
        stream = source.streams[model.name]["hardware"]
        assert isinstance(stream, HardwareStream)
        assert stream.reads == 1  # four polls, one read
        assert snapshot.hardware is not None
        assert snapshot.hardware.os is not None
        await source.transports[model.name].close()  # the connection drops; the next poll reconnects
        await source.poll(model)
        for _ in range(200):
            if stream.reads == 2:
                break
            await asyncio.sleep(0.02)
        assert stream.reads == 2
        await source.poll(model)
        assert stream.reads == 2
    finally:
        await source.close()


def test_the_bundled_inferno_inventory_describes_its_three_hosts() -> None:
    inventory = load_inventory(bundled_inventory("inferno"))
    profiles = {node.name: node.settings("hardware") for node in inventory.nodes}
    assert profiles["bastion"] is None
    assert profiles["inferno-host-compute-1"] == PROFILE
    l40s = [profiles[name] for name in ("inferno-host-l40s-1", "inferno-host-l40s-2")]
    assert [(p.gpus, p.nics[0].speed_gbps) for p in l40s if isinstance(p, HardwareProfile)] == [
        (GpuProfile(1, "L40S", 48), 25),
        (GpuProfile(1, "L40S", 48), 10),
    ]


# --- wizards that assume apt refuse another OS family --------------------------------------------------


async def test_bring_up_and_the_apt_fix_refuse_rocky_before_any_step(
    ssh_lab: SshLab, rocky_node: tuple[LabNode, str]
) -> None:
    node, _ = rocky_node
    model = lab_node_model(ssh_lab, node)
    transport = SSHTransport(model)
    try:
        wizards = (
            ("bring-up", bringup_wizard(stack_settings(model))),
            (
                "the nvidia-runtime fix",
                nvidia_runtime_wizard(FixInput(), Finding("nvidia-runtime", True, "")),
            ),
        )
        for what, wizard in wizards:
            report = await run_wizard(wizard, NodeContext(transport, model, AuditLog()), yes=True)
            first, *rest = report.steps
            assert (first.id, first.state) == ("os", "failed")
            assert first.summary == f"{what} supports Ubuntu and Debian; this node runs Rocky Linux 9.3"
            assert {step.state for step in rest} == {"skipped"}
        assert AuditLog().entries() == []  # nothing was attempted
    finally:
        await transport.close()


def test_the_os_refusal_in_words() -> None:
    def of(name: str) -> OsRelease:
        return parse_os_release((OS_RELEASE / name).read_text(encoding="utf-8"))

    assert refusal("bring-up", of("rocky-9.3")) == (
        "bring-up supports Ubuntu and Debian; this node runs Rocky Linux 9.3"
    )
    assert refusal("bring-up", of("ubuntu-24.04")) is None
    assert refusal("bring-up", of("debian-12")) is None
    assert refusal("bring-up", None) == (
        "bring-up supports Ubuntu and Debian; this node has no /etc/os-release to say what it runs"
    )


async def test_read_again_only_once_the_interval_has_passed() -> None:
    """Hardware does not change: warm polls answer from the last read; past `reread_s` one background
    re-read starts and the poll keeps the value in hand meanwhile (this machine, through the local
    transport)."""
    node = Node("here", "localhost", transport="local")
    transport = LocalTransport("here")
    stream = HardwareStream(transport, node, reread_s=3600)
    try:
        first = await stream.read(Poll(10))
        assert first.error is None
        assert first.memory_kib == memtotal_gib() * GIB
        assert [stream.latest(Poll(10)) for _ in range(5)] == [first] * 5
        assert stream.reads == 1
        stream.reread_s = 0  # the interval has passed
        assert stream.latest(Poll(10)) is first  # answered at once; the re-read runs behind it
        for _ in range(250):
            if stream.reads == 2:
                break
            await asyncio.sleep(0.02)
        assert stream.reads == 2
    finally:
        await stream.close()
