"""Run the console on the recorded fleet (no network): `python -m screens.demo [--nodes N]`.

`--screenshots DIR` writes the README's fleet.svg and node.svg instead (headless, 140×32):
`python -m screens.demo --screenshots docs/screenshots`.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from console.recorded_fleet import recorded_fleet
from screens.app import OpsConsoleApp


def recorded_app(nodes: int = 8, *, refresh: float = 5.0, cursor_blink: bool = True) -> OpsConsoleApp:
    fleet = recorded_fleet(nodes, refresh=refresh, moving=True)
    return OpsConsoleApp(fleet.session(), cursor_blink=cursor_blink)


async def write_screenshots(directory: Path, size: tuple[int, int] = (140, 32)) -> list[str]:
    """The README's pictures: the fleet, and gpu1's Containers tab (a 0.0.0.0 port, an unhealthy
    container), from the recorded fleet with its fixed clock."""
    app = OpsConsoleApp(recorded_fleet(refresh=5.0).session(), cursor_blink=False, batch_window_s=0)
    saved = []
    async with app.run_test(size=size) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        saved.append(app.save_screenshot_to(directory / "fleet.svg"))
        app.open_node("gpu1", tab="containers")
        await pilot.app.workers.wait_for_complete()
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
    recorded_app(args.nodes).run()


if __name__ == "__main__":
    main()
