"""The app's poll tasks and the collector's settings: the heap is settled once the first round is drawn,
thresholds are the app's while it runs and the process's again after it; no poll outlives the app."""

from __future__ import annotations

import asyncio
import gc

from screens.heap import YOUNG_THRESHOLD, HeapKeeper
from tests.tui_pilot import make_app, settle, until


async def test_the_heap_settles_after_the_first_round_and_is_released_at_exit() -> None:
    before = gc.get_threshold()
    app, _ = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
        await settle(pilot)
        await until(pilot, lambda: app.heap.frozen == 1)
        assert gc.get_freeze_count() > 0
        assert all(name in app.session.latest for name in app.nodes)
        await pilot.press("r")  # later rounds do not freeze again
        await settle(pilot)
        await pilot.pause(0.3)
        assert app.heap.frozen == 1
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


async def test_a_hung_poll_is_cancelled_when_the_app_ends() -> None:
    app, fleet = make_app()
    fleet.source.delays["gpu1"] = 3600.0  # type: ignore[attr-defined]
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: app.in_flight("gpu1"))
        task = app._poll_tasks["gpu1"]
        assert not task.done()
    await asyncio.sleep(0)
    assert task.cancelled()
    assert not app._poll_tasks


async def test_settled_waits_for_polls_in_flight() -> None:
    app, fleet = make_app()
    fleet.source.delays["gpu1"] = 0.3  # type: ignore[attr-defined]
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: app.in_flight("gpu1"))
        await app.settled()
        assert not app.in_flight("gpu1")
        assert "gpu1" in app.session.latest


def test_release_without_start_changes_nothing() -> None:
    before = gc.get_threshold()
    keeper = HeapKeeper()
    keeper.release()
    assert gc.get_threshold() == before
    keeper.start()
    keeper.start()  # twice: the first thresholds are the ones restored
    keeper.release()
    assert gc.get_threshold() == before
