"""A healthy run prints nothing on stderr (cron mails it), and the test tiers split where the README says.

These run the CLI in a fresh interpreter with whatever versions pip resolved here (CI installs the newest
each run), so a dependency that starts warning at import time fails here, not in an operator's mail.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VERSIONS = ", ".join(f"{name} {metadata.version(name)}" for name in ("asyncssh", "cryptography", "aiohttp"))


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "console", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    "args",
    [("--version",), ("--help",), ("inventory", "check", str(ROOT / "inventories" / "pantheon.yaml"))],
)
def test_cli_is_silent_on_stderr(args: tuple[str, ...], tmp_path: Path) -> None:
    result = _run(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == "", f"stderr with {VERSIONS}:\n{result.stderr}"


def test_the_ssh_stack_imports_silently(tmp_path: Path) -> None:
    """Importing the transport loads asyncssh and cryptography: nothing of theirs may reach stderr."""
    code = "import console.transport.ssh, console.collectors.docker"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", f"stderr with {VERSIONS}:\n{result.stderr}"


TIER_FILES = ("tests/test_text_boundary.py", "tests/test_check_cli.py")


def _collected(marker: str, files: tuple[str, ...] = TIER_FILES) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-m", marker,
         *files],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return {line.split("::")[1].split("[")[0] for line in result.stdout.splitlines() if "::" in line}


def test_lab_marker_follows_the_fixtures() -> None:
    """A test that uses a lab fixture (even through another fixture) is `lab`; a pure one is not."""
    lab, fast = _collected("lab"), _collected("not lab")
    assert "test_node_selection" in lab  # uses ssh_lab through gpu_node
    assert "test_node_selection" not in fast
    assert "test_finite" in fast
    assert "test_finite" not in lab


def test_ui_marker_follows_the_pilot_and_the_snapshots() -> None:
    """A snapshot test (snap_compare) or a test in a module that drives an app (run_test) is `ui`."""
    ui = _collected(
        "ui", ("tests/test_text_boundary.py", "tests/test_tui_snapshots.py", "tests/test_log_screen.py")
    )
    assert {"test_screen", "test_a_quiet_container_says_following_not_connecting"} <= ui
    assert "test_finite" not in ui  # a pure test stays in the unit tier


def test_slow_marker_follows_starting_python() -> None:
    """A test that starts a Python interpreter, itself or through a helper or fixture of its module (the
    CLI in a subprocess, a wheel in a venv, a fresh import), is `slow`; a test beside it that does not is
    not, so `-m "not lab and not ui and not slow"` is the unit tier."""
    files = ("tests/test_text_boundary.py", "tests/test_check_cli.py", "tests/test_demo.py")
    slow, fast = _collected("slow", files), _collected("not slow", files)
    assert "test_an_installed_wheel_runs_the_demo" in slow  # sys.executable in the test itself
    assert "test_inventory_check_command" in slow  # through the module's opsconsole() helper
    assert {"test_finite", "test_the_demo_captures_are_the_test_fixtures"} <= fast
    assert not slow & fast


def test_our_log_records_never_reach_stderr_on_their_own(tmp_path: Path) -> None:
    """A failed action logs a warning with node text: without a handler someone attached, it goes nowhere."""
    code = 'import console, logging; logging.getLogger("opsconsole.audit").warning("FAILED \\x1b]0;x\\x07")'
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stderr) == (0, "")
