"""The node facts' snapshot: the effective sshd settings and the storage paths as `stat -L` saw them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

SshdSource = Literal["sshd -T", "sudo -n sshd -T", "sshd_config"]
SSHD_DEFAULTS = {"permitrootlogin": "prohibit-password", "passwordauthentication": "yes"}
_OLD_SPELLINGS = {"without-password": "prohibit-password"}


@dataclass(frozen=True, slots=True)
class SshdFacts:
    """The node's effective sshd settings, and where they were read from.

    `settings`: lower-case keyword → value as the source gave it, first value winning; sshd's built-in
    defaults are not in it (the properties below apply them). `error`: nothing could be read.
    """

    source: SshdSource | None
    settings: tuple[tuple[str, str], ...] = ()
    sshd_t_error: str | None = None  # why `sshd -T` could not be used (when the config files were read)
    notes: tuple[str, ...] = ()
    error: str | None = None

    def get(self, keyword: str) -> str | None:
        return next((value for key, value in self.settings if key == keyword.lower()), None)

    def effective(self, keyword: str) -> str | None:
        """The keyword's value, or sshd's default when unset (lower-case; old spellings renamed)."""
        value = (self.get(keyword) or SSHD_DEFAULTS.get(keyword.lower()) or "").lower() or None
        return _OLD_SPELLINGS.get(value, value) if value else None

    @property
    def permit_root_login(self) -> str | None:
        return self.effective("permitrootlogin")

    @property
    def password_authentication(self) -> str | None:
        return self.effective("passwordauthentication")

    @property
    def described(self) -> str:
        """ "from sshd -T", or "from sshd_config (sshd -T needs root)" and the like."""
        if self.source != "sshd_config":
            return f"from {self.source}"
        why = self.sshd_t_error or "unavailable"
        if "hostkeys" in why or "permission denied" in why.lower():
            return "from sshd_config (sshd -T needs root)"
        if "not found" in why:
            return "from sshd_config (no sshd -T: sshd not found)"
        return f"from sshd_config (sshd -T failed: {why[:100]})"


@dataclass(frozen=True, slots=True)
class PathFacts:
    """One storage path as `stat -L` saw it. `exists` None: could not tell (see `error`)."""

    path: str
    exists: bool | None
    owner: str | None = None  # "uid:gid", numeric
    mode: str | None = None  # octal as `%a` prints it: "775", "2775"
    kind: str | None = None  # "directory", "regular file", ...
    error: str | None = None


@dataclass(frozen=True, slots=True)
class NodeFacts:
    """What one round trip learned. `sshd` None: not asked (or `error`); `error`: nothing is known."""

    node: str
    taken_at: datetime
    sshd: SshdFacts | None = None
    storage: tuple[PathFacts, ...] = ()
    error: str | None = None
    duration_s: float | None = None

    def path(self, path: str) -> PathFacts | None:
        return next((facts for facts in self.storage if facts.path == path), None)
