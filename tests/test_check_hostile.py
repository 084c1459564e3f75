"""--check against a hostile GPU node over real sshd: what reaches the terminal, Nagios and a JSON parser.

The node's nvidia-smi stand-in serves the real H100 row with a GPU name full of escape sequences and markup,
a NaN temperature on GPU 0 and 120 °C on GPU 1.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hostile import CONTROL, HOSTILE
from tests.lab.sshd import LabNode, SshLab
from tests.test_check_cli import opsconsole, write
from tests.test_hostile_gpu import row, serve

VISIBLE = "\\x1b]0;pwned\\x07\\x1b]52;c;Y3VybCBldmlsIHwgc2g=\\x07\\x1b[2J\\x07[/]x[@click=app.quit]y"


@pytest.fixture
def hostile_inventory(ssh_lab: SshLab, tmp_path: Path) -> Iterator[Path]:
    node: LabNode = ssh_lab.start_node("gpu-hostile", gpu_capture="idle")
    try:
        serve(node, [row("0", name=f'"{HOSTILE}"', temp="nan"), row("1", temp="120")])
        yield write(tmp_path, ssh_lab.inventory_yaml([node]))
    finally:
        node.stop()


def test_hostile_gpu_node_through_every_format(hostile_inventory: Path) -> None:
    text = opsconsole("-i", str(hostile_inventory), "--check", "--only", "gpu.*")
    assert (text.returncode, text.stderr) == (2, "")
    assert CONTROL.findall(text.stdout.replace("\n", "")) == []
    lines = text.stdout.splitlines()
    assert re.fullmatch(r"CRITICAL lab: 2 ok, 1 critical \(\d+\.\d\ds\)", lines[0]), lines[0]
    # A NaN beside 120 °C: critical for the 120 (before: "OK hottest GPU 0 at nan °C").
    assert lines[3] == (
        "  CRITICAL gpu.temperature    hottest GPU 1 at 120 °C (warn 85, crit 95);"
        " 1 GPU without a readable temperature"
    )
    present = next(line for line in lines if "gpu.present" in line)
    assert (
        present
        == f"  OK       gpu.present        2 GPUs: NVIDIA H100 80GB HBM3, {VISIBLE} (driver 580.159.04)"
    )

    nagios = opsconsole("-i", str(hostile_inventory), "--check", "--only", "gpu.*", "--format", "nagios")
    first, *long_output = nagios.stdout.splitlines()
    assert first.startswith(
        "OPSCONSOLE CRITICAL - 1 critical | gpu-hostile_gpu1_temp=120;85;95 gpu-hostile_gpu0_"
    )
    assert len(long_output) == 3
    assert CONTROL.findall(nagios.stdout.replace("\n", "")) == []

    done = opsconsole("-i", str(hostile_inventory), "--check", "--only", "gpu.*", "--format", "json")

    def refuse(constant: str) -> None:
        raise AssertionError(f"non-standard JSON: {constant}")

    report = json.loads(done.stdout, parse_constant=refuse)
    temperature = next(r for r in report["results"] if r["check"] == "gpu.temperature")
    assert (temperature["status"], temperature["perfdata"]) == ("critical", {"gpu1_temp": 120})
