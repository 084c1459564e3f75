"""Range-query windows typed in words, for the PromQL explorer (the named 5m…24h are the session's).

A typed start ("2 hours ago", "yesterday 18:00", "2026-12-05 14:00") and optional end ("now" when blank)
are read by prometheus-api-client's `parse_datetime` (dateparser underneath), in UTC, relative to a given
`now`, preferring the past ("18:00" before 18:00 is yesterday's). dateparser is slow to load (seconds from
a cold cache; its first parse loads language data), so it is imported on the first parse, never at
start-up: call `preload()` from a thread to have it ready.

The step keeps a series to about `points` points (never more than MAX_POINTS), whole seconds, at least 1 s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

MAX_POINTS = 1000  # per series; a graph a terminal wide uses far fewer, and Prometheus refuses > 11,000
MAX_TEXT = 100  # what the operator types; dateparser's time grows with its input
_FORMAT = "%Y-%m-%d %H:%M"


class WindowError(ValueError):
    """A window that cannot be queried; the message says why, for the operator."""


@dataclass(frozen=True, slots=True)
class TimeWindow:
    start: datetime  # UTC
    end: datetime  # UTC, never after the `now` it was read at
    step: float  # seconds between points
    to_now: bool = True  # ends at the `now` it was read at (blank, "now", or a future end cut to now)

    @property
    def points(self) -> int:
        """Points per series Prometheus will answer with (both ends included)."""
        return int((self.end - self.start).total_seconds() // self.step) + 1

    def describe(self) -> str:
        """'2026-12-05 14:00 → 2026-12-06 09:00 UTC, step 9m' (seconds shown only where not :00)."""
        return f"{_show(self.start)} → {_show(self.end)} UTC, step {_seconds(self.step)}"


def step_for(span: timedelta, points: int) -> float:
    """Whole seconds between points so that `span` has at most `points` (≤ MAX_POINTS) points plus one."""
    wanted = max(1, min(points, MAX_POINTS))
    return float(max(1, math.ceil(span.total_seconds() / wanted)))


def preload() -> None:
    """Import dateparser and read one time now (from a worker thread: a cold import takes seconds, the
    first parse loads its language data) so that the operator's Enter is answered at once."""
    _parser()("now", {"DATE_ORDER": "YMD"})


def parse_time(text: str, now: datetime, what: str = "from") -> datetime:
    """One typed time in UTC, relative to `now`; WindowError when it is not a time."""
    typed = " ".join(text.split())
    if not typed:
        raise WindowError(f"{what}: type a time, e.g. 2 hours ago, yesterday 18:00, 2026-12-05 14:00")
    if len(typed) > MAX_TEXT:
        raise WindowError(f"{what}: at most {MAX_TEXT} characters")
    base = now.astimezone(UTC).replace(tzinfo=None)  # dateparser's RELATIVE_BASE is naive
    settings = {
        "DATE_ORDER": "YMD",  # parse_datetime's own default: 2026-12-05, never 12 May
        "TIMEZONE": "UTC",
        "TO_TIMEZONE": "UTC",
        "RETURN_AS_TIMEZONE_AWARE": True,
        "RELATIVE_BASE": base,
        "PREFER_DATES_FROM": "past",
    }
    try:
        found = _parser()(typed, settings)
    except (ValueError, OverflowError, TypeError, LookupError):  # dateparser on odd input, e.g. year 99999
        found = None
    if not isinstance(found, datetime):
        raise WindowError(f"{what}: {typed!r} is not a time I can read (try: 2 hours ago, yesterday 18:00)")
    return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)


def parse_window(start: str, end: str = "", *, now: datetime, points: int) -> TimeWindow:
    """The window from `start` to `end` (blank: now), as typed. Refused (WindowError): a start that is
    not a time or is in the future, an end not after the start. An end past `now` is cut to `now`
    (Prometheus has nothing there yet)."""
    now = now.astimezone(UTC)
    begin = parse_time(start, now, "from")
    if begin > now:
        raise WindowError(f"from: {_show(begin)} UTC is in the future (now is {_show(now)} UTC)")
    finish = min(parse_time(end, now, "to"), now) if end.strip() else now
    if finish <= begin:
        raise WindowError(f"to: {_show(finish)} UTC is not after from: {_show(begin)} UTC")
    return TimeWindow(begin, finish, step_for(finish - begin, points), finish == now)


def _parser() -> Any:
    # Deferred: prometheus_api_client.utils imports dateparser (seconds); its package __init__ is light.
    from prometheus_api_client.utils import parse_datetime

    return parse_datetime


def _seconds(step: float) -> str:
    whole = int(step)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole >= size and whole % size == 0 and whole == step:
            return f"{whole // size}{unit}"
    return f"{step:g}s"


def _show(moment: datetime) -> str:
    return moment.strftime(_FORMAT if moment.second == 0 else _FORMAT + ":%S")
