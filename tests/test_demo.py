"""`opsconsole --demo` is a product feature: it runs from an installed wheel, outside this repository.

The wheel is built from the files it is made of (no tests/ in it, none on the path), installed into a fresh
virtual environment with the project's dependencies seen from the system (`--system-site-packages`, nothing
fetched), and run from an empty directory: the recorded fleet must come from the package's own data.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from console.cli import main
from console.demo import fleet

ROOT = Path(__file__).resolve().parent.parent
# What a wheel is built from: pyproject's packages and package data, and the readme it names.
SHIPPED = ("pyproject.toml", "README.md", "console", "screens", "widgets", "inventories")
FIXTURES = ROOT / "tests" / "fixtures" / "gpu" / "h100-80gb-hbm3"


def test_the_demo_captures_are_the_test_fixtures() -> None:
    """The packaged captures are copies of the fixtures the parser tests read: they may not drift apart."""
    packaged = sorted(fleet.CAPTURES.iterdir())
    assert [path.name for path in packaged] == [
        "idle-query-gpu-noheader-nounits.csv",
        "load-compute-apps.csv",
        "load-query-gpu-series.csv",
    ]
    for path in packaged:
        assert path.read_bytes() == (FIXTURES / path.name).read_bytes(), path.name
    assert ROOT / "tests" not in fleet.CAPTURES.parents


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["--demo", "--check"], 3),  # --check's usage errors are UNKNOWN, as a Nagios plugin's must be
        (["--demo", "-i", "pantheon"], 2),
        (["--demo", "inventory", "list"], 2),
    ],
)
def test_the_demo_takes_no_inventory_check_or_command(
    argv: list[str], code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == code
    assert "--demo is the TUI on a recorded fleet" in capsys.readouterr().err


def _run(args: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL
    )
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def test_an_installed_wheel_runs_the_demo(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in SHIPPED:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, source / name)
    venv, away, home = tmp_path / "venv", tmp_path / "elsewhere", tmp_path / "home"
    away.mkdir()
    home.mkdir()
    env = {
        "PATH": f"{venv / 'bin'}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "LANG": "C.UTF-8",
        "PIP_NO_INDEX": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    if "SYSTEMROOT" in os.environ:  # pragma: no cover - not on the Linux hosts this runs on
        env["SYSTEMROOT"] = os.environ["SYSTEMROOT"]
    _run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], cwd=away, env=env)
    python = str(venv / "bin" / "python")
    wheels = tmp_path / "wheels"
    pip_wheel = [python, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels)]
    _run([*pip_wheel, str(source)], cwd=away, env=env)
    (wheel,) = wheels.glob("opsconsole-*.whl")
    # --force-reinstall: the system already has this version (the editable install the tests run from).
    pip_install = [python, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall"]
    _run([*pip_install, str(wheel)], cwd=away, env=env)

    where = _run(
        [python, "-c", "import console.demo, importlib.util; print(console.demo.__file__); "
         "print(importlib.util.find_spec('tests'))"],
        cwd=away, env=env,
    ).stdout.split()  # fmt: skip
    assert Path(where[0]).is_relative_to(venv), f"the demo came from {where[0]}, not the installed wheel"
    assert where[1] == "None", "a tests package is importable: the demo could be reading the repository"

    done = _run([str(venv / "bin" / "opsconsole"), "--demo", "--screenshot", "out.svg"], cwd=away, env=env)
    assert done.stderr == ""
    svg = (away / "out.svg").read_text()
    assert "gpu1" in svg
    assert "cerberus" in svg
