"""What the console remembers across runs: the PromQL history and UI settings, in the XDG directories.

Paths are resolved at each call, so tests pointing XDG_STATE_HOME / XDG_CONFIG_HOME elsewhere stay isolated.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from console.atomic import write_atomically
from console.paths import config_dir, state_dir

HISTORY_LIMIT = 500  # PromQL queries kept


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomically(path, text, mode=0o600)  # the user's own history and settings


__all__ = ["HISTORY_LIMIT", "QueryHistory", "Settings", "config_dir", "state_dir"]


class QueryHistory:
    """PromQL queries across runs: JSON lines {"query", "time"} in $XDG_STATE_HOME/opsconsole/promql_history.

    The path is resolved at each call, so tests pointing XDG_STATE_HOME elsewhere stay isolated.
    """

    def __init__(self, path: Path | None = None, *, limit: int = HISTORY_LIMIT) -> None:
        self._path = path
        self.limit = limit

    @property
    def path(self) -> Path:
        return self._path if self._path is not None else state_dir() / "promql_history"

    def load(self) -> list[str]:
        """Oldest first, each query once (its latest use counts); unreadable lines are skipped."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            return []
        queries: dict[str, None] = {}
        for line in text.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            query = entry.get("query") if isinstance(entry, dict) else None
            if isinstance(query, str) and query.strip():
                queries.pop(query, None)
                queries[query] = None
        return list(queries)[-self.limit :]

    def add(self, query: str, *, at: datetime | None = None) -> list[str]:
        """Remember a query (appended; the file is compacted once it holds twice the limit)."""
        query = query.strip()
        if not query:
            return self.load()
        line = json.dumps({"query": query, "time": (at or datetime.now(UTC)).isoformat()}, ensure_ascii=False)
        path = self.path
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
        queries = self.load()
        with contextlib.suppress(OSError):
            if sum(1 for _ in path.open(encoding="utf-8")) > 2 * self.limit:
                _write_atomically(path, "".join(json.dumps({"query": q}) + "\n" for q in queries))
        return queries


class Settings:
    """UI settings remembered across runs, in `$XDG_CONFIG_HOME/opsconsole/settings.json`."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path

    @property
    def path(self) -> Path:
        return self._path if self._path is not None else config_dir() / "settings.json"

    def load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, NotADirectoryError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key: str) -> Any:
        return self.load().get(key)

    def set(self, key: str, value: Any) -> None:
        data = self.load()
        if data.get(key) == value:
            return
        data[key] = value
        _write_atomically(self.path, json.dumps(data, indent=2, sort_keys=True) + "\n")
