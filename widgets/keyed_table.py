"""A DataTable whose rows are keyed by id and updated cell by cell, with columns that drop by priority.

`sync(rows)` is the refresh: it updates only the cells whose text or style changed, adds new keys, removes
stale ones and never clears (a clear resets the cursor, Textual #1381). Which columns show depends on the
table's width: each column has a priority, and the most important ones that fit are shown, in their
declared order; a flexible column takes what is left. When a resize changes that set, the table rebuilds
its columns and rows from its own copy and puts the cursor back on the same row key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual._two_way_dict import TwoWayDict
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

Cells = Mapping[str, Text]
_Seen = tuple[str, str, tuple[tuple[int, int, str], ...]]


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int  # for a flexible column: its minimum
    priority: int = 0  # 0 shows first; higher numbers drop first on a narrow terminal
    flex: bool = False


def fit_columns(columns: Sequence[Column], width: int, padding: int = 1) -> tuple[tuple[Column, int], ...]:
    """The columns that fit in `width`, most important first, shown in declared order, with their widths."""
    chosen: set[str] = set()
    used = 0
    for column in sorted(columns, key=lambda column: column.priority):
        need = column.width + 2 * padding
        if used + need <= width or not chosen:
            chosen.add(column.key)
            used += need
    shown = []
    for column in columns:
        if column.key in chosen:
            size = column.width + max(0, width - used) if column.flex else column.width
            shown.append((column, size))
    return tuple(shown)


def _seen(text: Text) -> _Seen:
    """What a viewer sees of a cell: Text equality ignores the base style, so compare it all."""
    return (
        text.plain,
        str(text.style),
        tuple((span.start, span.end, str(span.style)) for span in text.spans),
    )


class KeyedTable(DataTable[Text]):
    """Subclasses set COLUMNS; callers feed rows as {row key: {column key: Text}}."""

    COLUMNS: tuple[Column, ...] = ()
    BLANK = Text("")

    DEFAULT_CSS = """
    KeyedTable {
        height: auto;
        max-height: 100%;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None, zebra: bool = True) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=zebra)
        self._rows: dict[str, dict[str, Text]] = {}
        self._seen: dict[str, dict[str, _Seen]] = {}
        self._shown: tuple[tuple[Column, int], ...] = ()
        self._hidden: set[str] = set()

    # --- columns -------------------------------------------------------------------------------------

    def _available_width(self) -> int:
        width = self.size.width or (self.app.size.width if self.is_attached else 80)
        return max(20, width - 2)  # room for the vertical scrollbar

    def on_mount(self) -> None:
        self._build(fit_columns(self.COLUMNS, self._available_width(), self.cell_padding))

    def on_resize(self, event: events.Resize) -> None:
        shown = fit_columns(self.COLUMNS, self._available_width(), self.cell_padding)
        if shown != self._shown:
            self._build(shown)

    @property
    def shown_columns(self) -> tuple[str, ...]:
        return tuple(column.key for column, _ in self._shown)

    def _build(self, shown: tuple[tuple[Column, int], ...]) -> None:
        """(Re)create the columns, then the rows from our copy; the cursor stays on its row key."""
        current = self.cursor_key
        self._shown = shown
        self.clear(columns=True)
        for column, width in shown:
            self.add_column(column.label, key=column.key, width=width)
        for key in list(self._rows):
            if key not in self._hidden:
                self._add(key)
        self.after_build()
        self.restore_cursor(current)

    def after_build(self) -> None:
        """Called once the columns were rebuilt (a subclass may re-order or re-render rows)."""

    # --- rows ----------------------------------------------------------------------------------------

    @property
    def cursor_key(self) -> str | None:
        """The row key under the cursor, or None for an empty table."""
        if not self.row_count or not self.is_valid_row_index(self.cursor_row):
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def restore_cursor(self, key: str | None) -> None:
        if key is not None and key in self.rows:
            self.move_cursor(row=self.get_row_index(key), animate=False)

    def _add(self, key: str) -> None:
        cells = self._rows[key]
        self.add_row(*(cells.get(column.key, self.BLANK) for column, _ in self._shown), key=key)

    def set_row(self, key: str, cells: Cells, *, visible: bool = True) -> None:
        """Store a row's cells; show them (cell by cell when the row is already shown)."""
        new = dict(cells)
        seen = {column: _seen(text) for column, text in new.items()}
        self._rows[key] = new
        before = self._seen.get(key)
        self._seen[key] = seen
        if not visible:
            self.hide_row(key)
            return
        self._hidden.discard(key)
        if key not in self.rows:
            self._add(key)
            return
        for column in self.shown_columns:
            if before is None or before.get(column) != seen.get(column):
                self.update_cell(key, column, new.get(column, self.BLANK))

    def hide_row(self, key: str) -> None:
        """Take the row off the screen but keep its cells (folded, filtered out)."""
        self._hidden.add(key)
        if key in self.rows:
            self.remove_row(key)

    def show_row(self, key: str) -> None:
        self._hidden.discard(key)
        if key in self._rows and key not in self.rows:
            self._add(key)

    def drop_row(self, key: str) -> None:
        self.hide_row(key)
        self._rows.pop(key, None)
        self._seen.pop(key, None)
        self._hidden.discard(key)

    def sync(self, rows: Mapping[str, Cells]) -> None:
        """Make the table show exactly `rows`, in their order, changing only what changed."""
        cursor = self.cursor_key
        for key in [key for key in self._rows if key not in rows]:
            self.drop_row(key)
        for key, cells in rows.items():
            self.set_row(key, cells)
        self.order(list(rows))
        self.restore_cursor(cursor)

    def order(self, keys: Iterable[str]) -> None:
        """Put the shown rows in this order (keys not shown are skipped; shown keys not listed go last).

        DataTable.sort hands its key function the cells, never the row key, so this sets the row order
        the way sort does (Textual's minor version is pinned; tests/test_tui_widgets.py covers it).
        """
        wanted = [key for key in dict.fromkeys(keys) if key in self.rows]
        listed = set(wanted)
        wanted += [
            row.key.value for row in self.ordered_rows if row.key.value not in listed and row.key.value
        ]
        if wanted == [row.key.value for row in self.ordered_rows]:
            return
        cursor = self.cursor_key
        self._row_locations = TwoWayDict({RowKey(key): index for index, key in enumerate(wanted)})
        self._update_count += 1
        self.refresh()
        self.restore_cursor(cursor)

    def cells(self, key: str) -> dict[str, Text]:
        return dict(self._rows.get(key, {}))
