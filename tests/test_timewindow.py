"""Range windows typed in words (console/timewindow.py), read by prometheus-api-client's parse_datetime
against a fixed "now"; and dateparser stays out of start-up."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.collectors.prometheus import PrometheusClient
from console.timewindow import MAX_POINTS, TimeWindow, WindowError, parse_window, preload, step_for
from tests.lab.prometheus import PrometheusLab

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 12, 6, 9, 0, 30, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "window"),
    [
        ("2 hours ago", "", (at(6, 7, 0, 30), NOW)),
        ("yesterday 18:00", "", (at(5, 18), NOW)),
        ("2026-12-05 14:00", "", (at(5, 14), NOW)),
        ("2026-12-05 14:00", "2026-12-05 16:30", (at(5, 14), at(5, 16, 30))),
        ("18:00", "", (at(5, 18), NOW)),  # before 18:00 today: yesterday's, the past is preferred
        ("2026-12-05T14:00:00+01:00", "now", (at(5, 13), NOW)),  # an offset is honoured, shown as UTC
        ("  3   days   ago ", "yesterday", (at(3, 9, 0, 30), at(5, 9, 0, 30))),
        ("yesterday 18:00", "tomorrow", (at(5, 18), NOW)),  # an end past now is cut to now
    ],
)
def test_typed_windows_in_utc(start: str, end: str, window: tuple[datetime, datetime]) -> None:
    found = parse_window(start, end, now=NOW, points=120)
    assert (found.start, found.end) == window
    assert (found.start.tzinfo, found.end.tzinfo) == (UTC, UTC)
    assert found.points <= 121


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("", "", "from: type a time, e.g. 2 hours ago, yesterday 18:00, 2026-12-05 14:00"),
        ("the day the music died", "", "from: 'the day the music died' is not a time I can read"),
        ("in 2 hours", "", "from: 2026-12-06 11:00:30 UTC is in the future (now is 2026-12-06 09:00:30 UTC)"),
        ("tomorrow", "", "from: 2026-12-07 09:00:30 UTC is in the future"),
        (
            "2026-12-05 14:00",
            "2026-12-05 13:00",
            "to: 2026-12-05 13:00 UTC is not after",
        ),
        ("now", "", "to: 2026-12-06 09:00:30 UTC is not after from: 2026-12-06 09:00:30 UTC"),
        ("2 hours ago", "gibberish oclock", "to: 'gibberish oclock' is not a time I can read"),
        ("x" * 101, "", "from: at most 100 characters"),
    ],
)
def test_windows_refused_with_a_reason(start: str, end: str, message: str) -> None:
    with pytest.raises(WindowError) as caught:
        parse_window(start, end, now=NOW, points=120)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("span", "points", "step"),
    [
        (timedelta(minutes=5), 120, 3.0),
        (timedelta(hours=1), 120, 30.0),
        (timedelta(seconds=30), 120, 1.0),  # never under a second
        (timedelta(days=365), 120, 262800.0),
        (timedelta(days=30), 10**6, 2592.0),  # asked for more than MAX_POINTS: held to it
    ],
)
def test_steps_keep_the_points_bounded(span: timedelta, points: int, step: float) -> None:
    assert step_for(span, points) == step
    window = TimeWindow(NOW - span, NOW, step)
    assert window.points <= min(points, MAX_POINTS) + 1


def test_a_long_typed_window_stays_bounded_and_describes_itself() -> None:
    window = parse_window("2026-01-01 00:00", "", now=NOW, points=120)
    assert window.points <= 121
    # 339 days and 9 hours in 120 points
    assert window.describe() == "2026-01-01 00:00 → 2026-12-06 09:00:30 UTC, step 244351s"
    assert window.to_now
    fixed = parse_window("2026-12-05 14:00", "2026-12-05 16:00", now=NOW, points=120)
    assert (fixed.describe(), fixed.to_now) == ("2026-12-05 14:00 → 2026-12-05 16:00 UTC, step 1m", False)
    cut = parse_window("2 hours ago", "tomorrow", now=NOW, points=120)
    assert (cut.end, cut.to_now) == (NOW, True)
    assert TimeWindow(NOW - timedelta(days=2), NOW, 1440.0).describe().endswith("step 24m")
    assert TimeWindow(NOW - timedelta(days=240), NOW, 172800.0).describe().endswith("step 2d")


def test_start_up_does_not_import_dateparser() -> None:
    # dateparser takes seconds to import: the command line and the explorer load it on the first parse only.
    code = (
        "import sys\n"
        "import console.cli, console.timewindow, console.session, screens.promql\n"
        "from console.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('dateparser', 'prometheus_api_client'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stderr


async def test_a_typed_window_queries_the_real_prometheus(prometheus_lab: PrometheusLab) -> None:
    preload()
    now = datetime.now(UTC) + timedelta(seconds=2)  # the lab's samples may be younger than a step
    window = parse_window("2 minutes ago", "", now=now, points=120)
    assert (window.end - window.start, window.step) == (timedelta(minutes=2), 1.0)
    with PrometheusClient(prometheus_lab.url, timeout=5) as prom:
        result = await prom.query_range("DCGM_FI_DEV_GPU_TEMP", window.start, window.end, window.step)
    assert len(result.series) == 2  # the lab's two GPUs
    for series in result.series:
        assert 0 < len(series.points) <= window.points
        stamps = [stamp for stamp, _ in series.points]  # the window is sent to the millisecond
        assert window.start.timestamp() - 1e-3 <= min(stamps) <= max(stamps) <= window.end.timestamp() + 1e-3
