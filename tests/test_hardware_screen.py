"""The node screen's header shows the OS, the SELinux mode and the hardware the section read (on the
recorded demo fleet, with a hardware snapshot of a Rocky 9.3 node put in as the poll would), and the
header's line itself from snapshots shaped like the section's."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

from textual.widgets import Static

from console.collectors.hardware import parse_os_release
from console.demo.fleet import recorded_fleet
from console.model.hardware import GpuInfo, HardwareSnapshot, NicInfo
from screens.app import OpsConsoleApp
from screens.node import NodeScreen
from widgets.hardware import hardware_text

ROCKY = parse_os_release((Path(__file__).parent / "fixtures" / "os-release" / "rocky-9.3").read_text())
GIB = 1024**2
HOST = HardwareSnapshot(
    "gpu1",
    datetime(2026, 12, 6, tzinfo=UTC),
    cpu_model="AMD EPYC 9655 96-Core Processor",
    cpu_cores=192,
    cpu_threads=384,
    memory_kib=755 * GIB,
    gpus=(GpuInfo("NVIDIA RTX PRO 6000 Blackwell Server Edition", 97887.0),) * 4,
    nics=(NicInfo("eth0", 1000.0, True), NicInfo("eth1", 25000.0, True), NicInfo("docker0", None, False)),
    os=ROCKY,
    selinux="enforcing",
)


def test_the_header_line() -> None:
    shown = hardware_text(HOST)
    assert shown is not None
    assert shown.plain == (
        "Rocky Linux 9.3 · SELinux enforcing · AMD EPYC 9655 96-Core Processor, 192 cores/384 threads · "
        "755 GB · 4× RTX PRO 6000 Blackwell Server Edition 96 GB · eth0 1G eth1 25G"
    )
    assert hardware_text(None) is None
    failed = hardware_text(dataclasses.replace(HOST, error="timed out after 5s"))
    assert failed is not None
    assert failed.plain == "hardware: timed out after 5s"


async def test_the_node_screen_shows_os_selinux_and_hardware() -> None:
    app = OpsConsoleApp(recorded_fleet().session(), cursor_blink=False, batch_window_s=0)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.app.settled()
        await pilot.pause()
        session = app.session
        snapshot = session.latest["gpu1"]
        session.latest["gpu1"] = dataclasses.replace(snapshot, hardware=HOST)
        app.open_node("gpu1", tab="gpus")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, NodeScreen)
        screen.show_status()
        await pilot.pause()
        status = str(screen.query_one("#node-status", Static).render())
        assert "Rocky Linux 9.3 · SELinux enforcing · AMD EPYC 9655" in status
