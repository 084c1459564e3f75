"""What --check output puts on a terminal or in a monitoring system, whatever a result's strings contain.

The collectors clean remote text where it enters the core; the outputs clean it again (a rule may quote a
node's words, a future collector may forget): these tests build results that carry raw escape sequences and
assert the exact bytes each format emits.
"""

from __future__ import annotations

import json
import math
from typing import Any

import jsonschema
import pytest
from prometheus_client.parser import text_string_to_metric_families

from console.checks.model import CheckReport, CheckResult, Perf, Status
from console.checks.report_monitoring import render_nagios, render_prometheus
from console.checks.report_text import render_json, render_text
from tests.test_check_formats import NAGIOS_FIRST_LINE, SCHEMA

OSC_TITLE = "\x1b]0;pwned\x07"
OSC_CLIPBOARD = "\x1b]52;c;cm0gLXJmIH4=\x07"
WIPE = "\x1b[2J"
BEL = "\x07"
MARKUP = "[/]x[@click=app.quit]y"
FORGED = "ok\nOPSCONSOLE OK - all fine | fake=1"

HOSTILE = CheckReport(
    f"lab{BEL}",
    (
        CheckResult("gpu1", "gpu.present", Status.OK, f"1 GPU: H100{OSC_TITLE}"),
        CheckResult(
            f"gpu1{WIPE}",
            "container.running",
            Status.CRITICAL,
            f"exited{OSC_CLIPBOARD}",
            target=f"comfy|x{WIPE}",
            fix=f"docker start {MARKUP}",
        ),
        CheckResult("gpu1", "prometheus.alerts", Status.WARNING, FORGED, target="GpuHot\n[CRITICAL] forged"),
    ),
    1.0,
    errors=(f"boom{BEL}|x\ny",),
)


def assert_no_control(text: str) -> None:
    lines = text.split("\n")
    for line in lines:
        assert not any(ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F for char in line), repr(line)


def test_text_output_bytes() -> None:
    assert render_text(HOSTILE) == "\n".join(
        [
            "CRITICAL lab\\x07: 1 ok, 1 warning, 1 critical (1.00s)",
            "error: boom\\x07|x\\ny",
            "",
            "gpu1\\x1b[2J",
            "  CRITICAL container.running [comfy|x\\x1b[2J]            exited\\x1b]52;c;cm0gLXJmIH4=\\x07"
            "  (fix: docker start [/]x[@click=app.quit]y)",
            "",
            "gpu1",
            "  WARNING  prometheus.alerts [GpuHot\\n[CRITICAL] forged] "
            "ok\\nOPSCONSOLE OK - all fine | fake=1",
            "  OK       gpu.present                                   1 GPU: H100\\x1b]0;pwned\\x07",
        ]
    )
    colored = render_text(HOSTILE, color=True)
    # Our own colour codes are the only escapes: each starts one of our status words.
    assert colored.count("\x1b[") == 2 * 4  # headline + three statuses, each opened and reset
    assert "\x1b]" not in colored
    assert "\x07" not in colored


def test_nagios_output_bytes() -> None:
    text = render_nagios(HOSTILE)
    lines = text.split("\n")
    assert lines == [
        "OPSCONSOLE CRITICAL - 1 critical, 1 warning | duration=1.000s",
        "[CRITICAL] gpu1\\x1b[2J container.running [comfy/x\\x1b[2J]: exited\\x1b]52;c;cm0gLXJmIH4=\\x07",
        "[WARNING] gpu1 prometheus.alerts [GpuHot\\n[CRITICAL] forged]: "
        "ok\\nOPSCONSOLE OK - all fine / fake=1",
        "[OK] gpu1 gpu.present: 1 GPU: H100\\x1b]0;pwned\\x07",
        "[UNKNOWN] internal error: boom\\x07/x\\ny",
    ]
    # Only the first line may carry '|': Nagios reads any later '|' as the start of long-output perfdata.
    assert all("|" not in line for line in lines[1:])
    assert NAGIOS_FIRST_LINE.match(lines[0])


def test_nagios_pipe_in_any_field_never_starts_perfdata() -> None:
    # Before: `replace("|", "/")` bound to the summary alone, so a '|' in node, check or target got through.
    result = CheckResult("n|a", "c.x", Status.WARNING, "s|s", target="t|t", fix="f")
    long_output = render_nagios(CheckReport("lab", (result,), 0.1)).split("\n")[1:]
    assert long_output == ["[WARNING] n/a c.x [t/t]: s/s"]


def test_prometheus_output_has_no_control_and_parses() -> None:
    text = render_prometheus(HOSTILE, now=1.0)
    assert_no_control(text)
    assert 'target="comfy|x\\\\x1b[2J"' in text  # the escape made visible, then escaped for the label
    assert 'inventory="lab\\\\x07"' in text
    families = {family.name: family for family in text_string_to_metric_families(text)}
    nodes = {sample.labels["node"] for sample in families["opsconsole_check_status"].samples}
    assert nodes == {"gpu1", "gpu1\\x1b[2J"}


def test_json_output_keeps_strings_clean_and_valid() -> None:
    data = json.loads(render_json(HOSTILE))
    jsonschema.validate(data, SCHEMA)
    assert data["results"][0]["summary"] == "1 GPU: H100\\x1b]0;pwned\\x07"
    assert data["results"][2]["target"] == "GpuHot\\n[CRITICAL] forged"


def strict_loads(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_json_is_strict_and_a_non_finite_number_is_null(value: float) -> None:
    perf = (Perf("gpu0_temp", value, "", 85, 95), Perf("gpu1_temp", 120.0, "", 85, 95))
    report = CheckReport(
        "lab", (CheckResult("n", "gpu.temperature", Status.CRITICAL, "x", perfdata=perf),), value
    )
    data = strict_loads(render_json(report))  # before: bare NaN / Infinity, refused by strict parsers
    assert data["results"][0]["perfdata"] == {"gpu0_temp": None, "gpu1_temp": 120.0}
    assert data["duration_s"] == 0.0
    jsonschema.validate(data, SCHEMA)
    nagios = render_nagios(report).split("\n")[0]
    assert "gpu0_temp" not in nagios
    assert "n_gpu1_temp=120;85;95" in nagios
    prometheus = render_prometheus(report, now=1.0)
    assert "gpu0_temp" not in prometheus
    assert "nan" not in prometheus.lower()


def down_node_report() -> CheckReport:
    cause = "node unreachable (see ssh.reachable)"
    return CheckReport(
        "lab",
        (
            CheckResult("gpu1", "ssh.reachable", Status.OK, "connected in 0.12s, up 3m"),
            CheckResult("gone", "ssh.reachable", Status.CRITICAL, "127.0.0.1:2: connection refused"),
            CheckResult("gone", "gpu.present", Status.SKIPPED, cause),
            CheckResult("gone", "gpu.temperature", Status.SKIPPED, cause),
            CheckResult("gone", "nfs.responsive", Status.SKIPPED, cause, target="/mnt/a"),
        ),
        0.5,
    )


def test_skipped_checks_are_named_once_and_never_counted() -> None:
    report = down_node_report()
    assert (report.status, report.exit_code) == (Status.CRITICAL, 2)
    assert render_text(report) == "\n".join(
        [
            "CRITICAL lab: 1 ok, 1 critical (0.50s)",
            "",
            "gone",
            "  CRITICAL ssh.reachable    127.0.0.1:2: connection refused",
            "  SKIPPED  gpu.present, gpu.temperature, nfs.responsive [/mnt/a]: "
            "node unreachable (see ssh.reachable)",
            "",
            "gpu1",
            "  OK       ssh.reachable    connected in 0.12s, up 3m",
        ]
    )
    assert render_nagios(report).split("\n") == [
        "OPSCONSOLE CRITICAL - 1 critical | duration=0.500s",
        "[CRITICAL] gone ssh.reachable: 127.0.0.1:2: connection refused",
        "[OK] gpu1 ssh.reachable: connected in 0.12s, up 3m",
        "[SKIPPED] gone gpu.present, gpu.temperature, nfs.responsive [/mnt/a]: "
        "node unreachable (see ssh.reachable)",
    ]
    prometheus = render_prometheus(report, now=1.0)
    assert 'check="gpu.present"' not in prometheus  # no series: the cause has one
    data = json.loads(render_json(report))
    jsonschema.validate(data, SCHEMA)
    assert [r["status"] for r in data["results"]][2:] == ["skipped"] * 3
    assert (data["status"], data["exit_code"]) == ("critical", 2)


def test_all_skipped_or_ok_is_ok() -> None:
    report = CheckReport("lab", (CheckResult("a", "nfs.mode", Status.SKIPPED, "not mounted"),), 0.1)
    assert (report.status, report.exit_code) == (Status.OK, 0)
    with pytest.raises(jsonschema.ValidationError):  # a run's own status is never "skipped"
        jsonschema.validate(json.loads(render_json(report)) | {"status": "skipped"}, SCHEMA)


def test_nagios_counts_agree_with_their_nouns() -> None:
    def first(*nodes: str) -> str:
        results = tuple(CheckResult(node, f"c.{i}", Status.OK, "x") for i, node in enumerate(nodes))
        return render_nagios(CheckReport("lab", results, 0.2)).split("\n")[0]

    assert first("a").startswith("OPSCONSOLE OK - 1 check ok on 1 node |")
    assert first("a", "a").startswith("OPSCONSOLE OK - 2 checks ok on 1 node |")
    assert first("a", "b").startswith("OPSCONSOLE OK - 2 checks ok on 2 nodes |")


def test_one_long_target_does_not_pad_every_line() -> None:
    """A 1 KiB alert name from Prometheus overflows its own line; the others stay short."""
    report = CheckReport(
        "lab",
        (
            CheckResult("gpu1", "gpu.present", Status.OK, "1 GPU"),
            CheckResult("gpu1", "prometheus.alerts", Status.WARNING, "firing", target="A" * 1000),
        ),
        0.1,
    )
    lines = render_text(report).splitlines()
    (short,) = [line for line in lines if "gpu.present" in line]
    assert len(short) < 80, short
    assert any(line.endswith("firing") and "A" * 900 in line for line in lines)
