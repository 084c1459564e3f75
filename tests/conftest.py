"""Shared test setup: never read the user's real files; the real-sshd lab fixtures."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytest_plugins = [
    "tests.lab.fixtures",
    "tests.lab.docker_fixtures",
    "tests.lab.nfs_fixtures",
    "tests.lab.prometheus_fixtures",
    "tests.lab.prom_fleet_fixtures",
    "tests.lab.power_fixtures",
]

FIXTURES = Path(__file__).parent / "fixtures"

# The session fixtures that start real servers (sshd, dockerd, Prometheus, ganesha, FUSE). Every test that
# uses one, directly or through another fixture, is marked `lab`: `pytest -m "not lab"` is the fast tier,
# which needs neither root nor the system packages.
LAB_FIXTURES = frozenset(
    {"ssh_lab", "docker_lab", "nfs_server", "mount_lab", "prometheus_lab", "stack_lab"}
    | {"snmp_lab", "redfish_lab", "redfish_tls_lab"}
    | {"prom_fleet_lab", "monitoring_stack"}
)


# The UI tier: snapshot tests (the `snap_compare` fixture) and every test in a module that drives an app
# through Textual's pilot (`run_test`).
UI_FIXTURES = frozenset({"snap_compare"})
_PILOT_MODULES: dict[str, bool] = {}


def _drives_the_tui(item: pytest.Item) -> bool:
    path = str(getattr(item, "path", ""))
    if path not in _PILOT_MODULES:
        try:
            _PILOT_MODULES[path] = "run_test(" in Path(path).read_text(encoding="utf-8")
        except OSError:
            _PILOT_MODULES[path] = False
    return _PILOT_MODULES[path]


# The slow tier: a test that starts a Python interpreter (`sys.executable`: the CLI in a subprocess, a fresh
# import, pytest collecting, a wheel installed in a venv), itself or through a helper, fixture or constant
# of its module. Seconds each, for what they prove about a process, not a unit: `-m "not lab and not ui and
# not slow"` is the unit tier.
_SPAWNERS: dict[str, frozenset[str]] = {}


def _names_starting_python(path: str) -> frozenset[str]:
    """The module's top-level functions and names whose code reaches `sys.executable`, directly or through
    another such name of the module."""
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return frozenset()
    uses: dict[str, set[str]] = {}
    direct: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            names = [stmt.name]
        elif isinstance(stmt, ast.Assign | ast.AnnAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
        else:
            continue
        nodes = list(ast.walk(stmt))
        called = {n.id for n in nodes if isinstance(n, ast.Name)}
        spawns = any(
            isinstance(n, ast.Attribute) and n.attr == "executable" and getattr(n.value, "id", "") == "sys"
            for n in nodes
        )
        for name in names:
            uses[name] = called - {name}
            if spawns:
                direct.add(name)
    found = set(direct)
    while True:
        more = {name for name, called in uses.items() if name not in found and called & found}
        if not more:
            return frozenset(found)
        found |= more


def _starts_python(item: pytest.Item) -> bool:
    path = str(getattr(item, "path", ""))
    if path not in _SPAWNERS:
        _SPAWNERS[path] = _names_starting_python(path)
    spawners = _SPAWNERS[path]
    name = getattr(item, "originalname", item.name)
    return name in spawners or bool(spawners.intersection(getattr(item, "fixturenames", ())))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if LAB_FIXTURES.intersection(fixtures):
            item.add_marker(pytest.mark.lab)
        if UI_FIXTURES.intersection(fixtures) or _drives_the_tui(item):
            item.add_marker(pytest.mark.ui)
        if _starts_python(item):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point HOME and the XDG dirs at a throwaway folder so no test sees ~/.ssh or ~/.config."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.delenv("OPSCONSOLE_INVENTORY", raising=False)
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    return home
