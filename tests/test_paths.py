"""The XDG directories, resolved in one place (console/paths.py) with the fallbacks every user shares."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from console import paths, persisted
from console.checks.lock import lock_path
from console.inventory.locate import config_inventory_path

ACCOUNT_HOME = Path(pwd.getpwuid(os.geteuid()).pw_dir)


def test_absolute_xdg_values_are_used(tmp_path: Path) -> None:
    environ = {
        "HOME": "/home/someone",
        "XDG_CONFIG_HOME": str(tmp_path / "c"),
        "XDG_STATE_HOME": str(tmp_path / "s"),
        "XDG_CACHE_HOME": str(tmp_path / "k"),
        "XDG_RUNTIME_DIR": str(tmp_path / "r"),
    }
    assert paths.config_dir(environ) == tmp_path / "c" / "opsconsole"
    assert paths.state_dir(environ) == tmp_path / "s" / "opsconsole"
    assert paths.cache_dir(environ) == tmp_path / "k" / "opsconsole"
    assert paths.runtime_dir(environ) == tmp_path / "r"


@pytest.mark.parametrize("value", [None, "", "relative/dir", "~/x"])
def test_unset_empty_or_relative_xdg_values_fall_back_under_home(value: str | None) -> None:
    environ = {"HOME": "/home/someone"}
    if value is not None:
        environ |= {name: value for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")}
        environ["XDG_RUNTIME_DIR"] = value
    assert paths.config_home(environ) == Path("/home/someone/.config")
    assert paths.state_home(environ) == Path("/home/someone/.local/state")
    assert paths.cache_home(environ) == Path("/home/someone/.cache")
    assert paths.runtime_dir(environ) is None  # the spec gives it no fallback


@pytest.mark.parametrize("home", [None, "", "relative"])
def test_without_an_absolute_home_the_password_database_gives_it(home: str | None) -> None:
    environ = {} if home is None else {"HOME": home}
    assert paths.home(environ) == ACCOUNT_HOME
    assert paths.state_dir(environ) == ACCOUNT_HOME / ".local" / "state" / "opsconsole"


def test_every_user_resolves_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings, history, audit log, lock and inventory agree, and read the environment at each call."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_STATE_HOME", "state")  # relative: ignored, as the lock always did
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "conf"))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    state = tmp_path / ".local" / "state" / "opsconsole"
    assert persisted.state_dir() == state
    assert persisted.QueryHistory().path == state / "promql_history"
    assert lock_path("/x/inv.yaml").parent == state
    assert persisted.Settings().path == tmp_path / "conf" / "opsconsole" / "settings.json"
    assert config_inventory_path() == tmp_path / "conf" / "opsconsole" / "inventory.yaml"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "other"))
    assert persisted.config_dir() == tmp_path / "other" / "opsconsole"


def test_the_audit_log_lives_in_the_same_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from console.actions import AuditLog

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_STATE_HOME", "state")  # relative: ignored here too, no audit log under the cwd
    assert AuditLog().path == tmp_path / ".local" / "state" / "opsconsole" / "audit.jsonl"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "s"))
    assert AuditLog().path == tmp_path / "s" / "opsconsole" / "audit.jsonl"
