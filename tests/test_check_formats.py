"""--check output formats, each validated by what consumes it: a JSON schema, Prometheus' parsers, Nagios."""

from __future__ import annotations

import json
import re
import subprocess
import threading
from pathlib import Path

import jsonschema
import pytest
from prometheus_client.parser import text_string_to_metric_families

from console.checkmode import filter_results
from console.checks.lock import LockBusy, check_lock, lock_path
from console.checks.model import CheckReport, CheckResult, Perf, Status
from console.checks.report_monitoring import render_nagios, render_prometheus, write_atomically
from console.checks.report_text import render_json

SCHEMA = json.loads((Path(__file__).parent.parent / "docs" / "check-report.schema.json").read_text())

REPORT = CheckReport(
    "pantheon",
    (
        CheckResult("gpu1", "ssh.reachable", Status.OK, "connected in 0.10s"),
        CheckResult(
            "gpu1",
            "gpu.temperature",
            Status.WARNING,
            "hottest GPU 0 at 88 °C",
            perfdata=(Perf("gpu0_temp", 88, "", 85, 95), Perf("gpu1_temp", 62, "", 85, 95)),
        ),
        CheckResult(
            "atlas", "nfs.responsive", Status.CRITICAL, 'hung | "quoted"', target="/mnt/atlas/models"
        ),
        CheckResult("cerberus", "ssh.reachable", Status.UNKNOWN, "timed out after 60s"),
    ),
    2.5,
)

# Nagios plugin guidelines: "SERVICE STATUS - text | 'label'=value[UOM];[warn];[crit];[min];[max] ..."
NAGIOS_FIRST_LINE = re.compile(
    r"^OPSCONSOLE (OK|WARNING|CRITICAL|UNKNOWN) - [^|]+"
    r"( \| ([A-Za-z0-9_.\-/]+=-?[0-9.]+(s|%|B|KB|MB|TB|c)?(;-?[0-9.]*){0,4} ?)+)?$"
)


def test_json_matches_the_schema() -> None:
    data = json.loads(render_json(REPORT))
    jsonschema.validate(data, SCHEMA)
    assert data["results"][1]["perfdata"] == {"gpu0_temp": 88, "gpu1_temp": 62}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data | {"status": "bad"}, SCHEMA)


def test_nagios_line_and_long_output() -> None:
    lines = render_nagios(REPORT).splitlines()
    assert NAGIOS_FIRST_LINE.match(lines[0]), lines[0]
    assert lines[0].startswith("OPSCONSOLE CRITICAL - 1 critical, 1 warning, 1 unknown | ")
    assert "gpu1_gpu0_temp=88;85;95" in lines[0]
    assert lines[1].startswith("[CRITICAL] atlas nfs.responsive [/mnt/atlas/models]")
    assert all("|" not in line for line in lines[1:])  # a '|' in long output would be read as perfdata


def test_nagios_all_ok() -> None:
    report = CheckReport("lab", (CheckResult("a", "ssh.reachable", Status.OK, "fine"),), 0.2)
    first = render_nagios(report).splitlines()[0]
    assert first == "OPSCONSOLE OK - 1 check ok on 1 node | duration=0.200s"
    assert NAGIOS_FIRST_LINE.match(first)


def test_prometheus_textfile_parses_with_prometheus_client() -> None:
    text = render_prometheus(REPORT, now=1_790_000_000.0)
    families = {family.name: family for family in text_string_to_metric_families(text)}
    status = {
        (s.labels["node"], s.labels["check"], s.labels["target"]): s.value
        for s in families["opsconsole_check_status"].samples
    }
    assert status[("atlas", "nfs.responsive", "/mnt/atlas/models")] == 2
    assert status[("cerberus", "ssh.reachable", "")] == 3
    assert families["opsconsole_last_run_timestamp_seconds"].samples[0].value == 1_790_000_000.0
    assert families["opsconsole_check_duration_seconds"].samples[0].value == 2.5


def test_prometheus_textfile_passes_promtool(tmp_path: Path) -> None:
    done = subprocess.run(
        ["promtool", "check", "metrics"], input=render_prometheus(REPORT), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_atomic_write_never_shows_half_a_file(tmp_path: Path) -> None:
    target = tmp_path / "opsconsole.prom"
    big = render_prometheus(REPORT) * 2000
    write_atomically(target, "first\n")
    seen: set[str] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            seen.add(target.read_text())

    thread = threading.Thread(target=reader)
    thread.start()
    for _ in range(20):
        write_atomically(target, big)
        write_atomically(target, "first\n")
    stop.set()
    thread.join()
    assert seen <= {"first\n", big}
    assert [p.name for p in tmp_path.iterdir()] == ["opsconsole.prom"]  # no temp files left behind


def test_only_and_skip_are_globs_on_check_ids() -> None:
    only_gpu = filter_results(REPORT, ["gpu.*"], [])
    assert {r.check for r in only_gpu.results} == {"gpu.temperature"}
    no_ssh = filter_results(REPORT, [], ["ssh.*"])
    assert {r.check for r in no_ssh.results} == {"gpu.temperature", "nfs.responsive"}
    assert filter_results(REPORT, ["ssh.*"], []).exit_code == 3


def test_lock_refuses_a_second_run_and_can_wait(tmp_path: Path) -> None:
    path = lock_path("/etc/opsconsole/fleet.yaml", {"XDG_RUNTIME_DIR": str(tmp_path)})
    assert path.parent == tmp_path / "opsconsole"
    with check_lock(path):
        with pytest.raises(LockBusy, match="another opsconsole --check is running"), check_lock(path):
            pass
        with pytest.raises(LockBusy, match=r"after waiting 0\.3s"), check_lock(path, wait=0.3):
            pass
    with check_lock(path):  # released when the first run ends
        pass
