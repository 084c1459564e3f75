"""The rack view (`P` from the fleet, and the palette) on deterministic data: the bundled inferno inventory,
node snapshots built here (GPU watts as nvidia-smi reports them, BMC watts as Redfish and ipmitool do) and
PDU readings shaped like the real APC walks the lab serves (tests/test_power_collectors.py reads those)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from console.demo.fleet import fixed_clock
from console.demo.sources import RecordedSource
from console.inventory.loader import load_inventory
from console.model.gpu import GpuReading, GpuSnapshot
from console.model.node import NodeSnapshot
from console.model.power import BmcPower, ChassisPower, PduPhase, PduReading
from console.session import ConsoleSession
from screens.app import OpsConsoleApp
from screens.racks import RacksScreen
from widgets.rack_tables import RackTable

INFERNO = Path(__file__).resolve().parent.parent / "inventories" / "inferno.yaml"
AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
NARROW, WIDE = (80, 24), (160, 48)


def gpus(node: str, model: str, draws: tuple[float, ...]) -> GpuSnapshot:
    readings = tuple(
        GpuReading(i, f"GPU-{node}-{i}", model, driver="580.95.05", power_draw_w=w, power_limit_w=300.0)
        for i, w in enumerate(draws)
    )
    return GpuSnapshot(node, AT, "nvidia-smi", "ok", readings)


def bmc(
    node: str, watts: float | None, error: str | None = None, via: str = "redfish https://bmc"
) -> BmcPower:
    chassis = (ChassisPower("1", watts, "Power"),) if watts is not None else ()
    return BmcPower(node, AT, watts, chassis, via, error)


def snapshots() -> dict[str, NodeSnapshot]:
    pro = "NVIDIA RTX PRO 6000 Blackwell Server Edition"
    return {
        "bastion": NodeSnapshot(
            "bastion", AT, True, gpu=GpuSnapshot("bastion", AT, "nvidia-smi", "no_tooling")
        ),
        "inferno-host-compute-1": NodeSnapshot(
            "inferno-host-compute-1", AT, True,
            gpu=gpus("inferno-host-compute-1", pro, (287.4, 291.0, 276.8, 298.2)),
            power=bmc("inferno-host-compute-1", 1640.0, via="redfish https://10.0.99.51"),
        ),
        "inferno-host-l40s-1": NodeSnapshot(
            "inferno-host-l40s-1", AT, True,
            gpu=gpus("inferno-host-l40s-1", "NVIDIA L40S", (301.5,)),
            power=bmc("inferno-host-l40s-1", 702.0, via="redfish https://10.0.99.52"),
        ),
        "inferno-host-l40s-2": NodeSnapshot(
            "inferno-host-l40s-2", AT, True,
            gpu=gpus("inferno-host-l40s-2", "NVIDIA L40S", (188.0,)),
            power=bmc("inferno-host-l40s-2", None, via="ipmi dcmi",
                      error="ipmitool dcmi failed (exit 1): Could not open device at /dev/ipmi0"),
        ),
    }  # fmt: skip


READINGS = {
    "inferno-pdu-circle1-1": PduReading(
        "inferno-pdu-circle1-1", AT, 582.0, 2.9, (PduPhase(1, 582.0, 2.9, 201.0),), "pdu-limbo-01",
    ),
    "inferno-pdu-circle2-1": PduReading(
        "inferno-pdu-circle2-1", AT, 1850.0, 9.2, (PduPhase(1, 1850.0, 9.2, 202.0),), "pdu-lust-01",
    ),
    "inferno-pdu-circle3-1": PduReading(
        "inferno-pdu-circle3-1", AT, 820.0, 4.1,
        (PduPhase(1, 410.0, 2.1, 201.0), PduPhase(2, 410.0, 2.0, 201.0)), "pdu-gluttony-01",
    ),
}  # fmt: skip


async def recorded_pdus(specs: Any, **_: Any) -> Mapping[str, PduReading]:
    return {spec.name: READINGS[spec.name] for spec in specs}


def app() -> OpsConsoleApp:
    session = ConsoleSession(load_inventory(INFERNO), RecordedSource(snapshots()), clock=fixed_clock)
    return OpsConsoleApp(session, cursor_blink=False, batch_window_s=0)


async def settle(pilot: Pilot[None]) -> None:
    await pilot.app.settled()
    await pilot.pause()
    await pilot.app.settled()
    await pilot.pause()


async def racks(pilot: Pilot[None]) -> None:
    await settle(pilot)
    await pilot.press("P")
    await settle(pilot)


@pytest.mark.parametrize("size", [NARROW, WIDE], ids=["80x24", "160x48"])
def test_rack_view(snap_compare, size: tuple[int, int], monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("screens.racks.read_pdus", recorded_pdus)
    assert snap_compare(app(), terminal_size=size, run_before=racks)


async def test_p_opens_racks_with_levels_from_the_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("screens.racks.read_pdus", recorded_pdus)
    async with app().run_test(size=WIDE) as pilot:
        await racks(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, RacksScreen)
        table = screen.query_one(RackTable)
        limbo = table.cells("rack|circle-1-limbo")
        assert limbo["status"].plain == "✖ crit"  # 582 W of 600 W: 97 % > 95 %
        assert limbo["headroom"].plain == "18 W"
        lust = table.cells("rack|circle-2-lust")
        assert lust["status"].plain == "▲ warn"  # 1,850 W of 2,300 W: 80.4 %
        assert (lust["bmc"].plain, lust["gpu"].plain, lust["rest"].plain) == ("1,640 W", "1,153 W", "487 W")
        node = table.cells("node|circle-1-limbo|inferno-host-l40s-2")
        assert node["bmc"].plain == "–"
        assert "Could not open device" in node["note"].plain
        assert table.cells("rack|circle-3-gluttony")["status"].plain == "✔ ok"
        await pilot.press("escape")
        assert not isinstance(pilot.app.screen, RacksScreen)


async def test_palette_lists_racks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("screens.racks.read_pdus", recorded_pdus)
    async with app().run_test(size=WIDE) as pilot:
        await settle(pilot)
        from screens.commands import ConsoleCommands

        provider = ConsoleCommands(pilot.app.screen, None)  # type: ignore[arg-type]
        names = [name for name, _, _ in provider._commands()]
        assert "Racks and power" in names
        assert "Racks (P)" in names  # the fleet's binding, listed with its key
