"""Checks and normalisations of single inventory values, keyed by (model class, field name).

Every pattern is matched with `fullmatch`: `$` also matches before a trailing newline, so `^...$` with
`match` lets "gpu1\\n" through. Hosts and users end up on an ssh command line or in ProxyJump: nothing that
starts with `-` (an option to ssh) and nothing a shell would read as syntax.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from console.text import clean_line

from .model import FleetSettings, MonitoringSettings, Node, PrometheusSettings, SSHSettings
from .model import StorageSpec as StorageSpec  # the models checked here were always importable from here

Check = Callable[[Any], str | None]
QUOTE_LIMIT = 80

NODE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_HOST_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")  # never a leading '-': ssh would read an option
_USER_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]*")  # POSIX names, plus '@' for directory accounts
_JUMP_RE = re.compile(
    r"(?:(?P<user>[A-Za-z0-9_][A-Za-z0-9_.-]*)@)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_][A-Za-z0-9_.-]*)"
    r"(?::(?P<port>[0-9]{1,5}))?"
)
_CONTAINER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # Docker's own rule for container names
_OCTAL_RE = re.compile(r"[0-7]{3,4}")
_OWNER_RE = re.compile(r"[0-9]+:[0-9]+")
_DRIVER_RE = re.compile(r"[0-9]+(?:\.[0-9]+)*")
_ROOT_LOGIN = ("yes", "no", "prohibit-password", "without-password", "forced-commands-only")


def quote(value: object) -> str:
    """A value from the file inside a message: one line, controls made visible, short."""
    return f"'{clean_line(value, limit=QUOTE_LIMIT)}'"


def positive(value: float) -> str | None:
    return None if value > 0 else "must be greater than 0"


def _port(value: int) -> str | None:
    return None if 1 <= value <= 65535 else "must be between 1 and 65535"


def _at_least_zero(value: float) -> str | None:
    return None if value >= 0 else "must be 0 or more"


def _octal(value: str) -> str | None:
    return None if _OCTAL_RE.fullmatch(value) else "must be octal, e.g. 775"


def _absolute(value: str) -> str | None:
    return None if value.startswith("/") else "must be an absolute path"


def _check_host(value: str) -> str | None:
    if "@" in value:
        return "must be a host name or address; put the user in ssh.user"
    if value.startswith("-"):
        return "must not start with '-' (ssh would read it as an option)"
    if ":" not in value:
        return None if _HOST_RE.fullmatch(value) else "is not a valid host name or address"
    try:
        ipaddress.ip_address(value.strip("[]"))  # IPv6 is the only host that may contain ':'
    except ValueError:
        return "must be a host name or address; put the port in ssh.port"
    return None


def _check_user(value: str) -> str | None:
    if _USER_RE.fullmatch(value):
        return None
    return "must be a user name (letters, digits, '_', '.', '-', '@'; not starting with '-')"


def _check_address(value: str) -> str | None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return "must be an IP address such as 127.0.0.1, 0.0.0.0 or ::1"
    return None


def _check_jump(value: str) -> str | None:
    # Node names are valid host names, so this covers both forms; loops between nodes are checked later.
    match = _JUMP_RE.fullmatch(value)
    if match and 1 <= int(match["port"] or 22) <= 65535:
        return None
    return f"expected an inventory node name or [user@]host[:port], got {quote(value)}"


def _check_container(value: str) -> str | None:
    return (
        None
        if _CONTAINER_RE.fullmatch(value)
        else "is not a valid container name ([A-Za-z0-9][A-Za-z0-9_.-]*)"
    )


_LABEL_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DURATION_RE = re.compile(r"(?:[0-9]+(?:ms|s|m|h|d|w|y))+")


def _check_url(value: str) -> str | None:
    if not value.startswith(("http://", "https://")):
        return "must start with http:// or https://"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if not parts.hostname or any(c.isspace() for c in value):
        return "is not a valid URL (it needs a host and no spaces)"
    return None


def _check_http_path(value: str) -> str | None:
    if not value.startswith("/"):
        return "must start with /"
    return "must not contain spaces" if any(c.isspace() for c in value) else None


def _check_driver(value: str) -> str | None:
    return (
        None if _DRIVER_RE.fullmatch(value) else "must be a driver version or its prefix, e.g. 590 or 580.159"
    )


def _check_root_login(value: str) -> str | None:
    return None if value in _ROOT_LOGIN else "must be one of " + ", ".join(_ROOT_LOGIN)


def check_path(value: str) -> str | None:
    if not value.startswith("/"):
        return "must be an absolute path"
    if ".." in value.split("/"):
        return "must not contain '..' (write the path the mount table shows)"
    return None


def normal_path(value: str) -> str:
    """`/mnt//a/./b/` -> `/mnt/a/b`, lexically, never following a symlink; `..` is refused before this.

    Linux gives `//` no meaning of its own, so unlike posixpath.normpath a leading `//` becomes `/` as well:
    the mount table only ever shows the single-slash form."""
    return "/" + posixpath.normpath(value).lstrip("/") if value.startswith("/") else value


# Checks on single converted values, so they report the line of the offending key. A check given to a
# list-valued field applies to each item.
CHECKS: dict[tuple[type, str], Check] = {
    (Node, "host"): _check_host,
    (Node, "refresh"): positive,
    (Node, "power_budget_w"): positive,
    (Node, "scratch"): check_path,
    (SSHSettings, "user"): _check_user,
    (SSHSettings, "port"): _port,
    (SSHSettings, "jump"): _check_jump,
    (SSHSettings, "connect_timeout"): positive,
    (SSHSettings, "command_timeout"): positive,
    (SSHSettings, "keepalive_interval"): lambda v: None if v >= 0 else "must be 0 (off) or more",
    (PrometheusSettings, "url"): _check_url,
    (PrometheusSettings, "timeout"): positive,
    (FleetSettings, "node_label"): lambda v: (
        None if _LABEL_RE.fullmatch(v) else "is not a Prometheus label name ([A-Za-z_][A-Za-z0-9_]*)"
    ),
    (FleetSettings, "rate_window"): lambda v: (
        None if _DURATION_RE.fullmatch(v) else "is not a PromQL duration (e.g. 1m, 90s, 1m30s)"
    ),
    (MonitoringSettings, "grafana"): _check_url,
    (MonitoringSettings, "alertmanager"): _check_url,
    (MonitoringSettings, "timeout"): positive,
}  # each section's own: its SectionSettings (console/inventory/settings.py) adds them when registered

# Values rewritten to one spelling once their check passed: `/mnt/a`, `/mnt/a/` and `/mnt//a` are one mount.
NORMALISE: dict[tuple[type, str], Callable[[Any], Any]] = {
    (Node, "scratch"): normal_path,
}
