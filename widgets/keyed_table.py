"""A DataTable whose rows are keyed by id and updated cell by cell, with columns fitted to the width.

`sync(rows)` is the refresh: it updates only the cells whose text or style changed, adds new keys, removes
stale ones and never clears (a clear resets the cursor, Textual #1381). Which columns show, and how wide,
is `fit_columns`, the one routine every table uses: the columns that tell rows apart (`keep`) always show,
the others join by priority while their minimum fits, and the width left over goes to the columns whose
text is cut, most important first; a cell that is still too long ends in `…`. When the set of columns
changes (a resize, new data), the table rebuilds its columns and rows from its own copy and puts the
cursor back on the same row key; when only widths change, it re-measures in place.

Every cell is shown as plain `Text` with control characters made visible (widgets/safe.py), whatever the
caller built it from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events
from textual._two_way_dict import TwoWayDict
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from widgets.safe import safe_text

Cells = Mapping[str, Text]
_Seen = tuple[str, str, tuple[tuple[int, int, str], ...]]


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int  # the least it is shown at (less when no cell needs that much)
    priority: int = 0  # 0 shows first; higher numbers drop first on a narrow terminal
    flex: bool = False  # as the last column shown, takes what is left once every cut column is whole
    keep: bool = False  # tells rows apart: shown at any width


Widths = tuple[tuple[Column, int], ...]


def fit_columns(
    columns: Sequence[Column], width: int, padding: int = 1, natural: Mapping[str, int] | None = None
) -> Widths:
    """The columns shown in `width` cells, in declared order, each with its width.

    `natural` is how wide each column's widest cell (or its label) is; without it, columns are as wide as
    declared. A column never takes more than its minimum when its cells need less. The `keep` columns
    always show; the others join by priority while their minimum still fits. Then the width left over
    goes to the columns whose text is cut: the `keep` ones first (a cut name may make two rows look alike
    again), then by priority tier; within a tier a cell at a time in turn, so the shortest needs are met
    first. While a `keep` column is still cut, the least important column of priority NICE or more makes
    way for it. What remains once every cell is whole goes to the flex column when it is the last one
    shown (in the middle of a row, blank width would only push the columns after it away).
    """
    natural = natural or {}
    left_out: set[str] = set()
    while True:
        sizes = _sizes([c for c in columns if c.key not in left_out], width, padding, natural)
        shown = [column for column in columns if column.key in sizes]
        if not any(c.keep and natural.get(c.key, 0) > sizes[c.key] for c in shown):
            break
        spare = [c for c in shown if not c.keep and c.priority >= NICE]
        if not spare:
            break
        left_out.add(max(reversed(spare), key=lambda c: c.priority).key)  # the last of the least important
    return tuple((column, sizes[column.key]) for column in shown)


NICE = 3  # priorities from here on are nice to have: they make way for a cut `keep` column


def _sizes(columns: Sequence[Column], width: int, padding: int, natural: Mapping[str, int]) -> dict[str, int]:
    def least(column: Column) -> int:
        need = natural.get(column.key)
        return column.width if need is None else max(1, min(column.width, need))

    sizes: dict[str, int] = {}
    used = 0
    for column in columns:
        if column.keep:
            sizes[column.key] = least(column)
            used += least(column) + 2 * padding
    for column in sorted((c for c in columns if not c.keep), key=lambda c: c.priority):
        need = least(column) + 2 * padding
        if used + need <= width or not sizes:
            sizes[column.key] = least(column)
            used += need
    free = max(0, width - used)
    shown = [column for column in columns if column.key in sizes]
    tiers: list[list[Column]] = [[c for c in shown if c.keep]]
    tiers += [
        [c for c in shown if not c.keep and c.priority == p] for p in sorted({c.priority for c in shown})
    ]
    for tier in tiers:
        cut = [c for c in tier if natural.get(c.key, 0) > sizes[c.key]]
        while free and cut:
            for column in list(cut):
                if not free:
                    break
                sizes[column.key] += 1
                free -= 1
                if sizes[column.key] >= natural[column.key]:
                    cut.remove(column)
    if shown and shown[-1].flex:
        sizes[shown[-1].key] += free
    return sizes


def cell(text: Text) -> Text:
    """What a table shows for a cell: control characters made visible, one line, cut with `…`.

    The `_CELL` meta keeps the cell's text a run of its own next to the padding even under the cursor
    (where the cursor style makes both alike): SVG viewers drop the leading space of a run, which shifted
    the selected row one cell left in screenshots.
    """
    shown = safe_text(text).copy()
    shown.overflow = "ellipsis"
    shown.no_wrap = True
    shown.stylize(_CELL)
    return shown


_CELL = Style(meta={"opsconsole-cell": True})


def label(text: str) -> Text:
    return cell(Text(text))


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
        self._natural: dict[str, dict[str, int]] = {}  # row key -> column key -> cells its text needs
        self._shown: Widths = ()
        self._hidden: set[str] = set()
        self._refit_due = False
        # Natural widths the last fit used: a refresh only widens columns (a value that shrinks for one
        # poll would otherwise re-measure, and redraw, the whole table); a resize or a row leaving may narrow.
        self._measured: dict[str, int] = {}
        self._may_narrow = True

    # --- columns -------------------------------------------------------------------------------------

    def _available_width(self) -> int:
        width = self.size.width or (self.app.size.width if self.is_attached else 80)
        return max(20, width - 2)  # room for the vertical scrollbar

    def natural_widths(self) -> dict[str, int]:
        """Each column's widest cell (or its label), over every row the table holds."""
        widths = {column.key: cell_len(column.label) for column in self.COLUMNS}
        for row in self._natural.values():
            for key, width in row.items():
                if width > widths.get(key, 0):
                    widths[key] = width
        return widths

    def fitted(self) -> Widths:
        natural = self.natural_widths()
        if not self._may_narrow:
            natural = {key: max(width, self._measured.get(key, 0)) for key, width in natural.items()}
        self._measured, self._may_narrow = natural, False
        return fit_columns(self.COLUMNS, self._available_width(), self.cell_padding, natural)

    def on_mount(self) -> None:
        self._build(self.fitted())

    def on_resize(self, event: events.Resize) -> None:
        self._may_narrow = True
        self.refit()

    def refit(self) -> None:
        """Fit the columns to the width and the cells now held: rebuild when the set of columns changes,
        re-measure in place when only their widths do."""
        self._refit_due = False
        shown = self.fitted()
        if shown == self._shown:
            return
        if [column.key for column, _ in shown] != [column.key for column, _ in self._shown]:
            self._build(shown)
            return
        self._shown = shown
        for column, width in shown:
            self.columns[ColumnKey(column.key)].width = width
        self._clear_caches()
        self._require_update_dimensions = True
        self.refresh()

    def _refit_soon(self) -> None:
        if not self._refit_due and self.is_attached:
            self._refit_due = True
            self.call_later(self.refit)

    @property
    def shown_columns(self) -> tuple[str, ...]:
        return tuple(column.key for column, _ in self._shown)

    @property
    def shown_widths(self) -> dict[str, int]:
        return {column.key: width for column, width in self._shown}

    def _build(self, shown: Widths) -> None:
        """(Re)create the columns, then the rows from our copy; the cursor stays on its row key."""
        current = self.cursor_key
        self._shown = shown
        self.clear(columns=True)
        for column, width in shown:
            self.add_column(label(column.label), key=column.key, width=width)
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
        seen = {column: _seen(text) for column, text in cells.items()}
        before = self._seen.get(key)
        old = self._rows.get(key, {})
        new = {
            column: old[column] if before is not None and before.get(column) == seen[column] else cell(text)
            for column, text in cells.items()
        }
        self._rows[key] = new
        self._seen[key] = seen
        natural = {column: text.cell_len for column, text in new.items()}
        if self._natural.get(key) != natural:
            self._natural[key] = natural
            self._refit_soon()
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
        if self._natural.pop(key, None) is not None:
            self._may_narrow = True
            self._refit_soon()
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
