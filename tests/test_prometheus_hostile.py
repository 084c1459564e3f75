"""What Prometheus sends is remote text and numbers: a real Prometheus with a hostile alerting rule.

Whoever can write a rule (or run an exporter Prometheus scrapes) controls label values and annotations. They
reach the console through the client, which must hand on plain one-line text (controls made visible, no
newline or `|` forging extra output lines in a multi-line field) and finite numbers only (NaN/±Inf: None).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import tests.lab.prometheus as lab_prometheus
from console.collectors.prometheus import PrometheusClient, PrometheusSnapshot
from tests.lab.prometheus import PrometheusLab

HOSTILE = "LabHostile"
# YAML double-quoted escapes: \e is ESC, \a is BEL. OSC 0 retitles the window, OSC 52 writes the clipboard,
# CSI 2J wipes the screen; the newline and `|` would forge a line in text and Nagios output.
HOSTILE_RULE = f"""\
      - alert: {HOSTILE}
        expr: vector(1)
        labels: {{severity: "critical\\e]0;pwned\\a", team: "ops\\nCRITICAL - forged | x=1"}}
        annotations:
          summary: "disk \\e[2Jfull\\nOK - all good | fake=1"
          description: "line one\\e]52;c;cHduZWQ=\\a\\nline two\\r\\e[31mred"
"""
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@pytest.fixture(scope="module")
def hostile_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusLab]:
    # The lab's own rules plus one hostile rule, in a Prometheus of this module's own.
    patch = pytest.MonkeyPatch()
    patch.setattr(lab_prometheus, "RULES", lab_prometheus.RULES + HOSTILE_RULE)
    lab = PrometheusLab(Path(tmp_path_factory.mktemp("hostile-prometheus")))
    try:
        lab.start()
        yield lab
    finally:
        lab.stop()
        patch.undo()


def assert_plain(text: str | None) -> None:
    assert text is not None
    assert not CONTROL.search(text), repr(text)


async def test_alert_labels_and_annotations_arrive_as_plain_text(hostile_prometheus: PrometheusLab) -> None:
    with PrometheusClient(hostile_prometheus.url, timeout=5) as prom:
        alerts = {alert.name: alert for alert in await prom.alerts()}
    alert = alerts[HOSTILE]
    assert alert.severity == "critical\\x1b]0;pwned\\x07"  # visible, never an escape sequence
    labels = dict(alert.labels)
    assert labels["team"] == "ops\\nCRITICAL - forged | x=1"  # one line: the newline is shown, not made
    for key, value in alert.labels:
        assert_plain(key)
        assert_plain(value)
    assert alert.summary == "disk \\x1b[2Jfull\\nOK - all good | fake=1"
    # The description is multi-line text: its newline stays, every control is made visible, and the
    # carriage return keeps what a terminal would show after it.
    assert alert.description == "line one\\x1b]52;c;cHduZWQ=\\x07\n\\x1b[31mred"
    assert "\x1b" not in alert.description


async def test_label_values_of_a_query_are_plain_text(hostile_prometheus: PrometheusLab) -> None:
    with PrometheusClient(hostile_prometheus.url, timeout=5) as prom:
        result = await prom.query(f'ALERTS{{alertname="{HOSTILE}"}}')
    assert result.samples
    for sample in result.samples:
        for key, value in sample.labels:
            assert_plain(key)
            assert_plain(value)
    assert {sample.label("severity") for sample in result.samples} == {"critical\\x1b]0;pwned\\x07"}


async def test_label_values_and_names_are_plain_text(hostile_prometheus: PrometheusLab) -> None:
    with PrometheusClient(hostile_prometheus.url, timeout=5) as prom:
        teams = await prom.label_values("team")
        severities = await prom.label_values("severity", f'ALERTS{{alertname="{HOSTILE}"}}')
        names = await prom.label_names(f'ALERTS{{alertname="{HOSTILE}"}}')
    assert "ops\\nCRITICAL - forged | x=1" in teams  # one line: the newline shown, not made
    assert severities == ("critical\\x1b]0;pwned\\x07",)
    assert {"alertname", "severity", "team"} <= set(names)
    for text in (*teams, *severities, *names):
        assert_plain(text)


async def test_non_finite_values_are_unknown(hostile_prometheus: PrometheusLab) -> None:
    with PrometheusClient(hostile_prometheus.url, timeout=5) as prom:
        nan = await prom.query("vector(0) / 0")
        inf = await prom.query("scalar(vector(1)) / 0")
        finite = await prom.query("vector(2) / 4")
        end = datetime.now(UTC) + timedelta(seconds=2)
        gaps = await prom.query_range("vector(0) / 0 or vector(1)", end - timedelta(seconds=20), end, 1)
        holes = await prom.query_range("vector(0) / 0", end - timedelta(seconds=20), end, 1)
    assert [sample.value for sample in nan.samples] == [None]
    assert inf.result_type == "scalar"
    assert [sample.value for sample in inf.samples] == [None]
    assert [sample.value for sample in finite.samples] == [0.5]
    assert gaps.series  # finite points are kept...
    # ...and a series that is NaN throughout has no points left: a gap, never a NaN to compare.
    assert all(not series.points for series in holes.series)


def test_a_snapshot_of_the_hostile_fleet_prints_no_control(hostile_prometheus: PrometheusLab) -> None:
    import asyncio

    from console.collectors.prometheus import collect_prometheus
    from console.inventory.model import PrometheusSettings

    snapshot: PrometheusSnapshot = asyncio.run(
        collect_prometheus(PrometheusSettings(url=hostile_prometheus.url, timeout=5))
    )
    assert snapshot.error is None
    for target in snapshot.targets:
        for text in (target.job, target.instance, target.scrape_url, target.last_error or ""):
            assert_plain(text)
    for alert in snapshot.alerts:
        for text in (alert.name, alert.severity or "", alert.summary or ""):
            assert_plain(text)


async def test_completion_of_hostile_label_values_puts_no_control_in_the_query_line(
    hostile_prometheus: PrometheusLab,
) -> None:
    from console.inventory.model import Inventory, PrometheusSettings
    from console.session import ConsoleSession
    from tests.test_promql_screen import PromQLApp, plain, until
    from widgets.promql_input import HistoryInput

    inventory = Inventory("lab", "lab", (), PrometheusSettings(hostile_prometheus.url, timeout=5))
    app = PromQLApp(ConsoleSession.live(inventory), cursor_blink=False, batch_window_s=0)
    async with app.run_test(size=(160, 40)) as pilot:
        box = app.screen.query_one(HistoryInput)
        await pilot.press(*'ALERTS{severity="crit', "tab")  # the label API answers
        await until(pilot, lambda: "candidates" in plain(app, "#promql-candidates"), 15)
        listing = plain(app, "#promql-candidates")
        assert_plain(listing)
        assert "critical\\x1b]0;pwned\\x07" in listing  # cleaned: the escape shown, not sent
        hostile = 'ALERTS{severity="critical\\\\x1b]0;pwned\\\\x07'  # ...and escaped for PromQL
        for _ in range(4):
            await pilot.press("tab")
            if box.value == hostile:
                break
        assert box.value == hostile
        assert_plain(box.value)
