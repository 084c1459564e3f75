"""A table whose rows are keyed by id and updated cell by cell, with columns fitted to the width.

`sync(rows)` is the refresh: it stores only the rows whose text or style changed (and renders only those
again: widgets/line_table.py), adds new keys, removes stale ones and keeps the cursor on its row key. Which
columns show, and how wide, is `fit_columns` (widgets/column_fit.py), the one routine every table uses: the
columns that tell rows apart (`keep`) always show, the others join by priority while their minimum fits,
and the width left over goes to the columns whose text is cut, most important first; a cell that is still
too long ends in `…`. When the columns or their widths change, every line is rendered again and the cursor
stays on the same row key.

Every cell is shown as plain `Text` with control characters made visible (widgets/safe.py), whatever the
caller built it from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rich.cells import cell_len
from rich.text import Text
from textual import events

from widgets.column_fit import NICE, Column, Widths, fit_columns
from widgets.line_table import LineTable, cell, label

__all__ = ["NICE", "Column", "KeyedTable", "Widths", "cell", "fit_columns", "label", "node_key"]

Cells = Mapping[str, Text]
_Seen = tuple[str, str, tuple[tuple[int, int, str], ...]]


def _seen(text: Text) -> _Seen:
    """What a viewer sees of a cell: Text equality ignores the base style, so compare it all."""
    return (
        text.plain,
        str(text.style),
        tuple((span.start, span.end, str(span.style)) for span in text.spans),
    )


def node_key(name: str) -> str:
    """The row key of a node in the cluster tables (node|NAME); the screens read the name back from it."""
    return f"node|{name}"


class KeyedTable(LineTable):
    """Subclasses set COLUMNS; callers feed rows as {row key: {column key: Text}}."""

    COLUMNS: tuple[Column, ...] = ()

    DEFAULT_CSS = """
    KeyedTable {
        height: auto;
        max-height: 100%;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None, zebra: bool = True) -> None:
        super().__init__(id=id, classes=classes, zebra=zebra)
        self._seen: dict[str, dict[str, _Seen]] = {}
        self._given: dict[str, dict[str, Text]] = {}  # the Text objects each row was last given
        self._natural: dict[str, dict[str, int]] = {}  # row key -> column key -> cells its text needs
        # column key -> cell width -> how many rows need that width: the widest cell of a column without a
        # pass over every row (a 300-node fleet changes widths every poll).
        self._width_counts: dict[str, dict[int, int]] = {}
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
        for key, counts in self._width_counts.items():
            if counts and (widest := max(counts)) > widths.get(key, 0):
                widths[key] = widest
        return widths

    def _count_widths(self, old: Mapping[str, int] | None, new: Mapping[str, int] | None) -> bool:
        """A row's cell widths went from `old` to `new` (None: no row); whether a column now needs more
        room than the last fit measured (only then can a refresh change the columns)."""
        counts_of = self._width_counts
        for column, width in (old or {}).items():
            counts = counts_of[column]
            counts[width] -= 1
            if not counts[width]:
                del counts[width]
        grew = False
        for column, width in (new or {}).items():
            counts = counts_of.setdefault(column, {})
            counts[width] = counts.get(width, 0) + 1
            grew = grew or width > self._measured.get(column, 0)
        return grew

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
        self._relook()

    def refit(self) -> None:
        """Fit the columns to the width and the cells now held; every line is rendered again when the
        columns or their widths change."""
        self._refit_due = False
        shown = self.fitted()
        if shown == self._shown:
            return
        if [column.key for column, _ in shown] != [column.key for column, _ in self._shown]:
            self._build(shown)
            return
        self._shown = shown
        self._relook()

    def _refit_soon(self) -> None:
        if not self._refit_due and self.is_attached:
            self._refit_due = True
            self.call_later(self.refit)

    @property
    def shown_widths(self) -> dict[str, int]:
        return {column.key: width for column, width in self._shown}

    def _build(self, shown: Widths) -> None:
        """A new set of columns: every line is rendered again; the cursor stays on its row key."""
        current = self.cursor_key
        self._shown = shown
        self._relook()
        self.after_build()
        self.restore_cursor(current)

    def after_build(self) -> None:
        """Called once the set of columns changed (a subclass may re-render its rows' cells)."""

    # --- rows ----------------------------------------------------------------------------------------

    def set_row(self, key: str, cells: Cells, *, visible: bool | None = True) -> None:
        """Store a row's cells; when they changed, render that row (only) again.

        A cell given as the very Text object given last time is taken as unchanged without comparing it (so
        a caller that keeps its Text objects per value pays nothing for unchanged cells); do not change a
        Text after handing it over. `visible` None leaves the row shown or hidden as it is."""
        given = self._given.get(key, {})
        before = self._seen.get(key)
        if (
            before is not None
            and len(given) == len(cells)
            and all(given.get(c) is t for c, t in cells.items())
        ):
            self._show_or_hide(key, visible)
            return
        self._given[key] = dict(cells)
        seen: dict[str, _Seen] = {}
        for column, text in cells.items():
            kept = given.get(column) is text and before is not None and column in before
            seen[column] = before[column] if kept and before is not None else _seen(text)
        if before != seen:
            old = self._rows.get(key, {})
            self._rows[key] = {
                column: old[column] if before is not None and before.get(column) == text_seen else cell(text)
                for (column, text), text_seen in zip(cells.items(), seen.values(), strict=True)
            }
            self._seen[key] = seen
            self.touch(key)
            natural = {column: text.cell_len for column, text in self._rows[key].items()}
            old_natural = self._natural.get(key)
            if old_natural != natural:
                self._natural[key] = natural
                if self._count_widths(old_natural, natural) or self._may_narrow:
                    self._refit_soon()
        self._show_or_hide(key, visible)

    def _show_or_hide(self, key: str, visible: bool | None) -> None:
        if visible is None:
            return
        if not visible:
            self.hide_row(key)
        else:
            self.show_row(key)

    def hide_row(self, key: str) -> None:
        """Take the row off the screen but keep its cells (folded, filtered out)."""
        self._hidden.add(key)
        if key in self._index:
            self._place([k for k in self._order if k != key])

    def show_row(self, key: str) -> None:
        """Put a held row back on the screen (at the end, until `order` places it)."""
        self._hidden.discard(key)
        if key in self._rows and key not in self._index:
            self._place([*self._order, key])

    def drop_row(self, key: str) -> None:
        self.hide_row(key)
        self.forget_row(key)
        self._seen.pop(key, None)
        self._given.pop(key, None)
        if (natural := self._natural.pop(key, None)) is not None:
            self._count_widths(natural, None)
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

    def show_only(self, keys: Iterable[str]) -> None:
        """Show exactly these held rows, in this order; every other row is hidden (kept, as by hide_row)."""
        wanted = [key for key in dict.fromkeys(keys) if key in self._rows]
        self._hidden = set(self._rows).difference(wanted)
        self._place(wanted)

    def order(self, keys: Iterable[str]) -> None:
        """Put the shown rows in this order (keys not shown are skipped; shown keys not listed go last)."""
        wanted = [key for key in dict.fromkeys(keys) if key in self._index]
        listed = set(wanted)
        wanted += [key for key in self._order if key not in listed]
        self._place(wanted)

    def cells(self, key: str) -> dict[str, Text]:
        return dict(self._rows.get(key, {}))
