"""Shared test setup: never read the user's real files; the real-sshd lab fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = [
    "tests.lab.fixtures",
    "tests.lab.docker_fixtures",
    "tests.lab.nfs_fixtures",
    "tests.lab.prometheus_fixtures",
    "tests.lab.power_fixtures",
]

FIXTURES = Path(__file__).parent / "fixtures"

# The session fixtures that start real servers (sshd, dockerd, Prometheus, ganesha, FUSE). Every test that
# uses one, directly or through another fixture, is marked `lab`: `pytest -m "not lab"` is the fast tier,
# which needs neither root nor the system packages.
LAB_FIXTURES = frozenset(
    {"ssh_lab", "docker_lab", "nfs_server", "mount_lab", "prometheus_lab", "stack_lab"}
    | {"snmp_lab", "redfish_lab", "redfish_tls_lab"}
)


# The UI tier: snapshot tests (the `snap_compare` fixture) and every test in a module that drives an app
# through Textual's pilot (`run_test`). `pytest -m "not lab and not ui"` is the unit tier: seconds, no root.
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if LAB_FIXTURES.intersection(fixtures):
            item.add_marker(pytest.mark.lab)
        if UI_FIXTURES.intersection(fixtures) or _drives_the_tui(item):
            item.add_marker(pytest.mark.ui)


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
