"""The PromQL query line: ↑/↓ walk the query history, metric names complete as you type (→ accepts)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from textual.binding import Binding
from textual.suggester import Suggester
from textual.widgets import Input

_TOKEN = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*$")


class MetricSuggester(Suggester):
    """Completes the metric name being typed at the end of the query (`rate(DCGM_FI_DEV_G` → `…GPU_UTIL`)."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.names: tuple[str, ...] = ()

    def set_names(self, names: Sequence[str]) -> None:
        self.names = tuple(sorted(set(names)))

    async def get_suggestion(self, value: str) -> str | None:
        match = _TOKEN.search(value)
        if match is None or len(match.group()) < 2:
            return None
        prefix = match.group()
        for name in self.names:
            if name.startswith(prefix) and name != prefix:
                return value + name[len(prefix) :]
        return None


class HistoryInput(Input):
    """An Input whose ↑/↓ step through earlier queries (oldest first in `history`); ↓ past the newest
    brings back what was being typed."""

    BINDINGS = [
        Binding("up", "history(-1)", "Older query", show=False),
        Binding("down", "history(1)", "Newer query", show=False),
    ]

    def __init__(self, history: Sequence[str] = (), **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.history: list[str] = list(history)
        self._position: int | None = None  # index into history while walking it
        self._draft = ""

    def set_history(self, history: Sequence[str]) -> None:
        self.history = list(history)
        self._position = None

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        if self._position is None:
            if step > 0:
                return
            self._draft = self.value
            position = len(self.history) + step
        else:
            position = self._position + step
        position = max(0, position)
        if position >= len(self.history):
            self._position = None
            self.value = self._draft
        else:
            self._position = position
            self.value = self.history[position]
        self.cursor_position = len(self.value)
