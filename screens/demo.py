"""The console on the recorded fleet (console/demo/, no network): `opsconsole --demo`, or
`python -m screens.demo [--nodes N]`.

`--screenshots DIR` writes the README's fleet.svg and node.svg instead (headless, 140×32):
`python -m screens.demo --screenshots docs/screenshots`.

The clock stays fixed at the recording's time even when run interactively: the recorded polls carry that
time, and a real clock would call every node stale. Values still move: each refresh plays the next poll.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from pathlib import Path

from console.demo.fleet import RecordedFleet, recorded_fleet
from screens.app import OpsConsoleApp

DEMO_REFRESH_S = 5.0


def demo_fleet(nodes: int = 8) -> RecordedFleet:
    """The fleet `opsconsole --demo` shows: the showcase, refreshing every few seconds with moving values."""
    return recorded_fleet(nodes, refresh=DEMO_REFRESH_S, moving=True)


def run_demo(
    fleet: RecordedFleet,
    *,
    node_names: Sequence[str] = (),
    screenshot: str | None = None,
    size: tuple[int, int] = (160, 48),
) -> int:
    """Run the console on `fleet` (as `run_app` runs it on the live one); with `screenshot`, headless: save
    an SVG of the fleet screen once every node answered and exit."""
    app = OpsConsoleApp(fleet.session(), node_names=node_names, screenshot=screenshot)
    if screenshot:
        app.run(headless=True, size=size)
    else:
        app.run()
    return app.return_code or 0


async def write_screenshots(directory: Path, size: tuple[int, int] = (140, 32)) -> list[str]:
    """The README's pictures: the fleet, and gpu1's Containers tab (a 0.0.0.0 port, an unhealthy
    container), from the recorded fleet with its fixed clock."""
    app = OpsConsoleApp(recorded_fleet(refresh=5.0).session(), cursor_blink=False, batch_window_s=0)
    saved = []
    async with app.run_test(size=size) as pilot:
        await app.settled()
        await pilot.pause()
        saved.append(app.save_screenshot_to(directory / "fleet.svg"))
        app.open_node("gpu1", tab="containers")
        await app.settled()
        await pilot.pause()
        saved.append(app.save_screenshot_to(directory / "node.svg"))
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--screenshots", type=Path, metavar="DIR")
    args = parser.parse_args()
    if args.screenshots:
        for path in asyncio.run(write_screenshots(args.screenshots)):
            print(path)  # noqa: T201
        return
    raise SystemExit(run_demo(demo_fleet(args.nodes)))


if __name__ == "__main__":
    main()
