"""Fleet-wide trouble at a glance, on the recorded demo fleet: the header counts nodes by their worst check
status (beside Prometheus's firing alerts and down targets), and `]`/`[` move the cursor to the next/previous
node that is not OK, wrapping round, stopping at a folded group that holds one, passing over filtered rows."""

from __future__ import annotations

from dataclasses import replace

from textual.pilot import Pilot

from console.demo.fleet import recorded_fleet
from console.model.checks import CheckResult, Status
from screens.app import OpsConsoleApp
from screens.fleet import FleetScreen
from widgets.fleet_table import GROUP_PREFIX, FleetTable
from widgets.trouble import next_trouble, node_status, tally, tally_text


def make_app() -> OpsConsoleApp:
    return OpsConsoleApp(recorded_fleet().session(), cursor_blink=False, batch_window_s=0)


async def settle(pilot: Pilot[None]) -> None:
    await pilot.app.settled()
    await pilot.pause()


def summary(app: OpsConsoleApp) -> str:
    return str(app.screen.query_one("#fleet-summary").render())


async def test_the_header_counts_nodes_by_their_worst_check_and_prometheus_problems() -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        # gpu1 (a stopped container), rack-a2 (a GPU missing), pod-7 (a hung mount), cerberus (down)
        worst = {name: node_status(app.session.verdict(node).results) for name, node in app.nodes.items()}
        assert sorted(name for name, status in worst.items() if status is Status.CRITICAL) == [
            "cerberus", "gpu1", "pod-7", "rack-a2",
        ]  # fmt: skip
        text = summary(app)
        # trouble first (what 80 columns show): nodes by worst check, then Prometheus's problems
        assert text.startswith("8 nodes  ·  ✖ 4 crit ✔ 4 ok  ·  ✖ Prometheus: 2 alerts, 1 target down (a)")
        assert "7 up  ·  1 down" in text


async def test_bracket_keys_walk_the_nodes_in_trouble_in_screen_order_and_wrap() -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(FleetTable)
        assert table.cursor_key == "gpu1"
        walked = []
        for _ in range(5):
            await pilot.press("right_square_bracket")
            walked.append(table.cursor_key)
        assert walked == ["rack-a2", "pod-7", "cerberus", "gpu1", "rack-a2"]
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert table.cursor_key == "cerberus"  # back past gpu1, round to the end

        table.sort_by("node", reverse=True)  # screen order, whatever the sort
        await pilot.pause()
        table.restore_cursor("gpu1")
        await pilot.press("right_square_bracket")
        assert table.cursor_key == "rack-a2"
        await pilot.press("right_square_bracket")
        assert table.cursor_key == "pod-7"


async def test_a_folded_group_is_a_stop_and_filtered_nodes_are_passed_over() -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(FleetTable)
        table.toggle_fold("pods")
        table.toggle_fold("rack-b")  # all OK inside: no stop
        await pilot.pause()
        table.restore_cursor("rack-a2")
        await pilot.press("right_square_bracket")
        assert table.cursor_key == f"{GROUP_PREFIX}pods"  # pod-7 is folded in there
        await pilot.press("right_square_bracket")
        assert table.cursor_key == "cerberus"

        await pilot.press("slash", *"rack")
        await pilot.press("enter")
        await pilot.pause()
        table.restore_cursor("rack-a1")
        await pilot.press("right_square_bracket", "right_square_bracket")
        assert table.cursor_key == "rack-a2"  # the only one the filter shows

        await pilot.press("escape", "slash", *"atlas")
        await pilot.press("enter")
        await pilot.pause()
        before = table.cursor_key
        await pilot.press("right_square_bracket")
        assert table.cursor_key == before  # nothing shown is in trouble: the cursor stays
        said = [str(note.message) for note in app._notifications]
        assert "4 nodes not OK, hidden by the filter" in said


def result(status: Status) -> CheckResult:
    return CheckResult("n", "x.check", status, "")


def test_worst_status_tally_and_its_words() -> None:
    assert node_status(None) is None  # not answered yet: not counted
    assert node_status(()) is Status.OK
    assert node_status((result(Status.OK), result(Status.SKIPPED), result(Status.WARNING))) is Status.WARNING
    statuses = [Status.WARNING, Status.CRITICAL, None, Status.UNKNOWN, Status.OK, Status.CRITICAL]
    assert tally(statuses) == {Status.CRITICAL: 2, Status.UNKNOWN: 1, Status.WARNING: 1, Status.OK: 1}
    assert tally_text(statuses).plain == "✖ 2 crit ? 1 unkn ▲ 1 warn ✔ 1 ok"
    assert tally_text([None, None]).plain == ""  # nothing judged yet: nothing said
    assert tally_text([None, Status.OK]).plain == "✔ 1 ok"


def test_next_trouble_wraps_and_ends_on_the_cursor_row() -> None:
    rows = ["a", "b", "c", "d"]
    bad = {"b", "d"}.__contains__
    assert next_trouble(rows, "b", bad) == "d"
    assert next_trouble(rows, "d", bad) == "b"
    assert next_trouble(rows, "b", bad, backwards=True) == "d"
    assert next_trouble(rows, None, bad) == "b"
    assert next_trouble(rows, None, bad, backwards=True) == "d"
    assert next_trouble(rows, "b", {"b"}.__contains__) == "b"
    assert next_trouble(rows, "a", set().__contains__) is None


async def test_the_header_works_out_again_only_the_nodes_whose_answer_changed() -> None:
    app = make_app()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        session = app.session
        verdict, asked = session.verdict, []

        def counted(node):  # type: ignore[no-untyped-def]
            asked.append(node.name)
            return verdict(node)

        session.verdict = counted  # type: ignore[method-assign]
        screen.show_status()
        assert asked == []  # nothing answered since the last frame: no node judged, none tallied again
        before = summary(app)
        down = replace(session.latest["rack-a1"], reachable=False, error="connection lost")
        session.record(down)
        screen.show_status()
        await pilot.pause()
        assert asked == ["rack-a1"]
        after = summary(app)
        assert after != before
        assert "✖ 5 crit ✔ 3 ok" in after
        assert "6 up  ·  2 down" in after
