"""Where this program keeps its files on this machine: the XDG base directories, resolved in one place.

Each function reads the environment when called (tests pointing XDG_* or HOME elsewhere stay isolated) and
takes the environment as an argument so a caller can resolve another one. Per the XDG spec a relative
XDG_* value is ignored; so is a relative HOME, and without an absolute HOME the account's home comes from
the password database: a file is never placed relative to whatever the working directory is (cron's).
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping
from pathlib import Path

APP = "opsconsole"


def home(environ: Mapping[str, str] = os.environ) -> Path:
    """$HOME when it is absolute, else the home the password database gives this user."""
    value = environ.get("HOME", "")
    if os.path.isabs(value):
        return Path(value)
    try:
        return Path(pwd.getpwuid(os.geteuid()).pw_dir)
    except KeyError:
        raise RuntimeError(
            f"no home directory: HOME is unset and uid {os.geteuid()} has no passwd entry"
        ) from None


def _base(variable: str, fallback: tuple[str, ...], environ: Mapping[str, str]) -> Path:
    value = environ.get(variable, "")
    return Path(value) if os.path.isabs(value) else home(environ).joinpath(*fallback)


def config_home(environ: Mapping[str, str] = os.environ) -> Path:
    """$XDG_CONFIG_HOME, else ~/.config."""
    return _base("XDG_CONFIG_HOME", (".config",), environ)


def state_home(environ: Mapping[str, str] = os.environ) -> Path:
    """$XDG_STATE_HOME, else ~/.local/state."""
    return _base("XDG_STATE_HOME", (".local", "state"), environ)


def cache_home(environ: Mapping[str, str] = os.environ) -> Path:
    """$XDG_CACHE_HOME, else ~/.cache."""
    return _base("XDG_CACHE_HOME", (".cache",), environ)


def runtime_dir(environ: Mapping[str, str] = os.environ) -> Path | None:
    """$XDG_RUNTIME_DIR (per login, cleared at reboot), or None: the spec gives it no fallback."""
    value = environ.get("XDG_RUNTIME_DIR", "")
    return Path(value) if os.path.isabs(value) else None


def config_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """This program's config: the inventory, UI settings."""
    return config_home(environ) / APP


def state_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """This program's state: the audit log, the PromQL history, the --check lock without a runtime dir."""
    return state_home(environ) / APP


def cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    return cache_home(environ) / APP
