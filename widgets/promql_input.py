"""The PromQL query line: ↑/↓ walk the query history, Tab completes, → accepts the inline suggestion.

Tab completes the word at the cursor from what the completer knows: metric names; label names inside
`{…}` (and in `by (…)`); label values after `label="`. One candidate is inserted whole; several insert
their common prefix and are listed (the screen shows the list), and Tab/Shift+Tab then step through them.
Where there is nothing to complete, Tab moves the focus as everywhere else. The widget does no I/O: when
it lacks a metric's labels it asks with `LabelsWanted` and the screen feeds the completer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from textual.binding import Binding
from textual.message import Message
from textual.suggester import Suggester
from textual.widgets import Input

from console.text import clean_line

_TOKEN = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*$")
_LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
_MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)\s*$")
_METRIC_BEFORE = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*$")
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(\s*(?:[A-Za-z_][A-Za-z0-9_]*\s*,\s*)*$"
)
_FIRST_METRIC = re.compile(r"(?<![A-Za-z0-9_:.])([A-Za-z_:][A-Za-z0-9_:]*)")
# What is not a metric name when looking for one: strings, ranges, selectors' insides, grouping clauses.
_NOT_NAMES = re.compile(
    r'"(?:[^"\\]|\\.)*"?|\'(?:[^\'\\]|\\.)*\'?|`[^`]*`?|\[[^\]]*\]?|\{[^}]*\}?'
    r"|\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)?"
)
_NOT_METRICS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"})
_STRING_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}

Kind = Literal["metric", "label", "value"]


@dataclass(frozen=True, slots=True)
class Context:
    """What the word at the cursor is: its kind, where it starts and what is typed of it so far."""

    kind: Kind
    start: int
    prefix: str
    metric: str | None = None  # the metric whose labels these are, when the query names one
    label: str | None = None  # for values: the label they belong to
    selector: bool = False  # a label name inside `{…}` (a matcher follows), not in `by (…)`


def context_at(value: str, cursor: int) -> Context | None:
    """The completion context at `cursor` in `value`, or None where nothing completes (in a number, a
    range `[5m]`, a string outside a selector)."""
    before = value[:cursor]
    brace: int | None = None
    quote: str | None = None
    quote_at = 0
    in_range = False
    escaped = False
    for index, char in enumerate(before):
        if quote is not None:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "\"'`":
            quote, quote_at = char, index
        elif char == "{":
            brace = index
        elif char == "}":
            brace = None
        elif char == "[":
            in_range = True
        elif char == "]":
            in_range = False
    if in_range:
        return None
    metric_of = _metric_before(before, brace) if brace is not None else _first_metric(value)
    if quote is not None:
        matcher = _MATCHER.search(before[:quote_at])
        if brace is None or matcher is None:
            return None
        return Context("value", quote_at + 1, before[quote_at + 1 :], metric_of, matcher.group(1))
    label = _LABEL.search(before)
    word = label.group() if label else ""
    start = cursor - len(word)
    if brace is not None:
        lead = before[brace + 1 : start].rstrip()
        if lead and not lead.endswith(","):
            return None  # after `=`, inside a value, or after a complete matcher
        return Context("label", start, word, metric_of, selector=True)
    if _GROUPING.search(before[:start]):
        return Context("label", start, word, metric_of)
    token = _TOKEN.search(before)
    if token is None:
        return None
    start = cursor - len(token.group())
    if start > 0 and (before[start - 1].isdigit() or before[start - 1] == "."):
        return None  # a number such as 1e3
    return Context("metric", start, token.group())


def _metric_before(before: str, brace: int) -> str | None:
    match = _METRIC_BEFORE.search(before[:brace])
    return match.group(1) if match else None


def _first_metric(value: str) -> str | None:
    """The first metric named in the query (for `sum by (…) (metric)`), skipping functions and keywords."""
    bare = _NOT_NAMES.sub(lambda match: " " * len(match.group()), value)
    for match in _FIRST_METRIC.finditer(bare):
        name = match.group(1)
        if name not in _NOT_METRICS and not bare[match.end(1) :].lstrip().startswith("("):
            return name
    return None


def _common_prefix(words: Sequence[str]) -> str:
    first, last = min(words), max(words)  # the sorted extremes differ first where any two differ
    size = next((i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), len(first))
    return first[:size]


def promql_string(text: str) -> str:
    """A label value as the inside of a PromQL double-quoted string: quotes, backslashes and controls
    escaped (a hostile value cannot end the string or put control bytes into the query line)."""
    out = []
    for char in text:
        if char in _STRING_ESCAPES:
            out.append(_STRING_ESCAPES[char])
        elif ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return "".join(out)


class PromQLCompleter:
    """What completion knows: metric names, and the label names and values seen per metric (from series
    already fetched, or fetched for completion). Pure data; `learn` it series' labels."""

    def __init__(self) -> None:
        self.names: tuple[str, ...] = ()
        self.labels: dict[str | None, set[str]] = {None: set()}  # metric (None: any) -> label names
        self.values: dict[tuple[str | None, str], set[str]] = {}
        self.asked: set[tuple[str | None, str | None]] = set()  # (metric, label) already fetched

    def set_names(self, names: Iterable[str]) -> None:
        self.names = tuple(sorted({clean_line(name) for name in names}))

    def learn(self, series: Iterable[Sequence[tuple[str, str]]], metric: str | None = None) -> None:
        """Record the label names and values of these series (their `__name__`, else `metric`)."""
        for labels in series:
            pairs = dict(labels)
            name = pairs.pop("__name__", None) or metric
            for key, value in pairs.items():
                for owner in {name, None}:
                    self.labels.setdefault(owner, set()).add(key)
                    self.values.setdefault((owner, key), set()).add(value)

    def learn_names(self, metric: str | None, names: Iterable[str]) -> None:
        """Record label names Prometheus's label API gave for `metric` (None: any series)."""
        for owner in {metric, None}:
            self.labels.setdefault(owner, set()).update(name for name in names if name != "__name__")

    def learn_values(self, metric: str | None, label: str, values: Iterable[str]) -> None:
        """Record the values of `label` the label API gave for `metric` (None: any series)."""
        found = set(values)
        for owner in {metric, None}:
            self.values.setdefault((owner, label), set()).update(found)

    def knows(self, context: Context) -> bool:
        """Whether the labels (or a label's values) this context needs were learnt or already asked for."""
        if context.kind == "metric":
            return True
        key = (context.metric, context.label if context.kind == "value" else None)
        if key in self.asked:
            return True
        if context.kind == "label":
            return bool(self.labels.get(context.metric))
        return bool(self.values.get((context.metric, context.label or "")))

    def candidates(self, context: Context) -> list[str]:
        if context.kind == "metric":
            pool: Iterable[str] = self.names
        elif context.kind == "label":
            pool = self.labels.get(context.metric) or self.labels.get(None, set())
        else:
            label = context.label or ""
            pool = self.values.get((context.metric, label)) or self.values.get((None, label), set())
        return sorted(item for item in pool if item.startswith(context.prefix))


class MetricSuggester(Suggester):
    """Suggests inline the metric name being typed at the end of the query (`rate(DCGM_FI_DEV_G` →
    `…GPU_UTIL`); → accepts it."""

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


@dataclass
class _Cycle:
    candidates: list[str]
    context: Context
    index: int  # -1: the common prefix is shown, no candidate picked yet


class HistoryInput(Input):
    """An Input whose ↑/↓ step through earlier queries (oldest first in `history`); ↓ past the newest
    brings back what was being typed. Tab completes (see the module's docstring)."""

    BINDINGS = [
        Binding("up", "history(-1)", "Older query", show=False),
        Binding("down", "history(1)", "Newer query", show=False),
        Binding("tab", "complete(1)", "Complete", key_display="Tab"),
        Binding("shift+tab", "complete(-1)", "Previous completion", show=False),
    ]

    @dataclass
    class Candidates(Message):
        """The completion list changed: show these (none: hide the list); `selected` is the one inserted."""

        candidates: tuple[str, ...]
        selected: int | None
        note: str = ""

    @dataclass
    class LabelsWanted(Message):
        """Completion needs the labels of `context.metric` (or one label's values): fetch and `learn` them."""

        context: Context

    def __init__(
        self, history: Sequence[str] = (), completer: PromQLCompleter | None = None, **kwargs: object
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.history: list[str] = list(history)
        self.completer = completer or PromQLCompleter()
        self._position: int | None = None  # index into history while walking it
        self._draft = ""
        self._cycle: _Cycle | None = None
        self._completed = ""  # the value as completion left it: any other change ends the cycle

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

    # --- completion ----------------------------------------------------------------------------------

    def watch_value(self, value: str) -> None:
        if self._cycle is not None and value != self._completed:
            self._cycle = None
            self.post_message(self.Candidates((), None))

    def _put(self, start: int, text: str) -> None:
        end = self.cursor_position
        value = self.value[:start] + text + self.value[end:]
        self._completed = value
        self.value = value
        self.cursor_position = start + len(text)

    def _insertion(self, context: Context, candidate: str, whole: bool) -> str:
        """The text that replaces the typed word: values escaped; a unique label gets `="`, a unique
        value its closing quote (unless they follow already)."""
        following = self.value[self.cursor_position :]
        if context.kind == "value":
            text = promql_string(candidate)
            return text + '"' if whole and not following.startswith('"') else text
        if context.selector and whole and not following.lstrip().startswith(("=", "!")):
            return candidate + '="'
        return candidate

    def action_complete(self, step: int = 1) -> None:
        cycle = self._cycle
        if cycle is not None and self.value == self._completed:
            start = len(cycle.candidates) if cycle.index < 0 and step < 0 else cycle.index
            cycle.index = (start + step) % len(cycle.candidates)
            pick = cycle.candidates[cycle.index]
            self._put(cycle.context.start, self._insertion(cycle.context, pick, whole=False))
            self.post_message(self.Candidates(tuple(cycle.candidates), cycle.index))
            return
        context = context_at(self.value, self.cursor_position)
        if context is None or (context.kind == "metric" and not context.prefix):
            if step < 0:
                self.screen.focus_previous()
            else:
                self.screen.focus_next()
            return
        if not self.completer.knows(context):
            self.post_message(self.LabelsWanted(context))
            self.post_message(self.Candidates((), None, note="fetching labels…"))
            return
        candidates = self.completer.candidates(context)
        if not candidates:
            what = {"metric": "metric name", "label": "label name", "value": "label value"}[context.kind]
            self.post_message(self.Candidates((), None, note=f"no {what} starts with {context.prefix!r}"))
            return
        if len(candidates) == 1:
            self._cycle = None
            self._put(context.start, self._insertion(context, candidates[0], whole=True))
            self.post_message(self.Candidates((), None))
            return
        common = _common_prefix(candidates)
        self._cycle = _Cycle(candidates, context, -1)
        self._put(context.start, self._insertion(context, common, whole=False))
        self.post_message(self.Candidates(tuple(candidates), None))
