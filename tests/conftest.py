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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if LAB_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.lab)


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
