"""The Line-API table under every keyed table: rows painted from a kept line each, repainted one by one.

A `ScrollView` + `render_line` widget. Each shown row's line is rendered once into a `Strip` and kept; a row
is rendered again only when its own cells change (`touch`), the cursor comes or goes, its zebra stripe
flips (it moved), or the look of the whole table changes (the columns' widths, the widget's width or style,
focus, the theme). A change refreshes that row's region only, so a fleet where one value changes per poll
repaints one line, not the screen. (Textual's DataTable drops its whole render cache on every
`update_cell`, so every visible row is rendered again each poll.)

It draws rows as DataTable does (its component classes and look, so screenshots are unchanged), speaks
DataTable's messages (`RowHighlighted`, `RowSelected`, `HeaderSelected`: the screens handle them as
`on_data_table_*`) and keeps the few DataTable calls the screens and tests use (`rows`, `row_count`,
`ordered_rows`, `get_row_at`, `get_cell`, `get_row_index`, `move_cursor`, `cursor_row`). What the rows hold
and which columns show is the subclass's (widgets/keyed_table.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size, Spacing
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, Row, RowKey

from widgets.column_fit import Widths
from widgets.safe import safe_text

_HEADER = "\0header"  # the header line's key in the line cache


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
_LOOKS = 20_000  # cells kept by how they look, across rows (a sort shows rows never drawn before)


def label(text: str) -> Text:
    return cell(Text(text))


class LineTable(ScrollView, can_focus=True):
    """Rows by key in `_order`, cells in `_rows`, columns in `_shown`. A subclass calls `touch(key)` after a
    row's cells change, `_place(keys)` to change which rows show and in what order, `_relook()` when every
    line must change."""

    EMPTY = Text("")  # a cell a row does not have (not `BLANK`: Widget.BLANK tells the compositor to skip us)

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Select", show=False),
        Binding("up", "cursor_up", "Cursor up", show=False),
        Binding("down", "cursor_down", "Cursor down", show=False),
        Binding("left", "scroll_left", "Scroll left", show=False),
        Binding("right", "scroll_right", "Scroll right", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("ctrl+home", "scroll_top", "Top", show=False),
        Binding("ctrl+end", "scroll_bottom", "Bottom", show=False),
        Binding("home", "scroll_top", "Top", show=False),
        Binding("end", "scroll_bottom", "Bottom", show=False),
    ]

    # The component classes and look of Textual's DataTable, so the tables look as they did.
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "datatable--cursor",
        "datatable--header",
        "datatable--odd-row",
        "datatable--even-row",
    }
    DEFAULT_CSS = """
    LineTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        &:focus {
            background-tint: $foreground 5%;
            & > .datatable--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .datatable--header {
                background-tint: $foreground 5%;
            }
        }
        &:dark {
            & > .datatable--even-row {
                background: $surface-darken-1 40%;
            }
        }
        & > .datatable--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .datatable--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .datatable--odd-row {
        }
        & > .datatable--even-row {
            background: $surface-lighten-1 50%;
        }
        & > .datatable--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """

    # DataTable's messages: the screens handle them as on_data_table_row_selected and so on.
    RowHighlighted = DataTable.RowHighlighted
    RowSelected = DataTable.RowSelected
    HeaderSelected = DataTable.HeaderSelected

    def __init__(self, *, id: str | None = None, classes: str | None = None, zebra: bool = True) -> None:
        super().__init__(id=id, classes=classes)
        self.zebra_stripes = zebra
        self.cell_padding = 1
        self._rows: dict[str, dict[str, Text]] = {}
        self._shown: Widths = ()
        # What is on the screen: the shown keys in order, and where each is.
        self._order: list[str] = []
        self._index: dict[str, int] = {}
        self._cursor = 0
        self._highlighted: str | None = None  # the row key the last RowHighlighted named
        # The line cache: row key -> (what the line depends on, the line). `_versions` counts each row's
        # changes; `_look` is what every line depends on (widths, style, focus), checked once per paint.
        self._lines: dict[str, tuple[tuple[Any, ...], Strip]] = {}
        self._versions: dict[str, int] = {}
        self._look: tuple[Any, ...] = ()
        self._layout = 0  # bumped when the columns or the styles change
        self._paint: dict[str, Style] = {}  # the row styles of the current look
        self._cells: dict[tuple[str, str], tuple[Text, int, list[Segment]]] = {}  # (row, column) -> segments
        # (row, column) -> (its segments, its row's place, the cursor on it or not, the styled segments):
        # a row drawn again because one value changed restyles that cell only. Cleared with the look.
        self._styled: dict[tuple[str, str], tuple[list[Segment], int, bool, list[Segment]]] = {}
        self.restyled = 0  # cells styled (tests count it)
        self._looks: dict[tuple[Any, ...], list[Segment]] = {}  # a cell's text, styles, width -> segments

    @property
    def shown_columns(self) -> tuple[str, ...]:
        return tuple(column.key for column, _ in self._shown)

    def touch(self, key: str) -> None:
        """The row's cells changed: render its line again, repaint it if it is on the screen."""
        self._versions[key] = self._versions.get(key, 0) + 1
        if key in self._index:
            self._refresh_row(self._index[key])

    def forget_row(self, key: str) -> None:
        for column in self._rows.get(key, {}):
            self._cells.pop((key, column), None)
            self._styled.pop((key, column), None)
        self._rows.pop(key, None)
        self._versions.pop(key, None)
        self._lines.pop(key, None)

    def _relook(self) -> None:
        """Something every line depends on changed: render them all again at the next paint."""
        self._layout += 1
        self._resize_virtual()
        self.refresh()

    def notify_style_update(self) -> None:
        self._layout += 1  # a theme or CSS change: the component styles are new
        super().notify_style_update()

    def on_focus(self) -> None:
        self.refresh()  # focus tints the whole table and colours the cursor (`_look` has it)

    def on_blur(self) -> None:
        self.refresh()

    def _table_width(self) -> int:
        return sum(width + 2 * self.cell_padding for _, width in self._shown)

    def _resize_virtual(self) -> None:
        size = Size(self._table_width(), len(self._order) + 1)
        if size != self.virtual_size:
            self.virtual_size = size

    # --- rows ----------------------------------------------------------------------------------------

    @property
    def cursor_key(self) -> str | None:
        """The row key under the cursor, or None for an empty table."""
        return self._order[self._cursor] if 0 <= self._cursor < len(self._order) else None

    @property
    def cursor_row(self) -> int:
        return self._cursor

    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def rows(self) -> Mapping[str, int]:
        """The shown row keys, each with its position."""
        return self._index

    @property
    def ordered_rows(self) -> list[Row]:
        return [Row(RowKey(key), 1) for key in self._order]

    def get_row_index(self, key: str) -> int:
        return self._index[key]

    def get_cell(self, key: str, column: str) -> Text:
        return self._rows[key].get(column, self.EMPTY)

    def get_row_at(self, index: int) -> list[Text]:
        cells = self._rows[self._order[index]]
        return [cells.get(column, self.EMPTY) for column in self.shown_columns]

    def is_valid_row_index(self, index: int) -> bool:
        return 0 <= index < len(self._order)

    def restore_cursor(self, key: str | None) -> None:
        if key is not None and key in self._index:
            self.move_cursor(row=self._index[key], animate=False)

    def move_cursor(self, *, row: int | None = None, animate: bool = False, scroll: bool = True) -> None:
        """Put the cursor on row `row` (clamped): the old and the new cursor lines are rendered again."""
        before = self._cursor
        if row is not None:
            self._cursor = max(0, min(row, len(self._order) - 1))
        if self._cursor != before:
            self._refresh_row(before)
            self._refresh_row(self._cursor)
        if scroll:
            self._scroll_cursor_into_view(animate=animate)
        self._announce()

    def _announce(self) -> None:
        """Post RowHighlighted when the row under the cursor is another one than last said."""
        key = self.cursor_key
        if key != self._highlighted:
            self._highlighted = key
            if key is not None:
                self.post_message(DataTable.RowHighlighted(self, self._cursor, RowKey(key)))  # type: ignore[arg-type]

    def _scroll_cursor_into_view(self, animate: bool = False) -> None:
        if not self._order or not self.is_attached:
            return
        region = Region(int(self.scroll_x), self._cursor + 1, max(1, self.size.width), 1)
        self.scroll_to_region(region, animate=animate, spacing=Spacing(1, 0, 0, 0), force=True)

    def _place(self, keys: list[str]) -> None:
        """Show these rows in this order: the lines from the first that moved down are refreshed (the
        rows themselves are rendered again only where the cursor or the zebra stripe changed); the cursor
        stays on its row key (or its position, when its row left)."""
        if keys == self._order:
            return
        cursor = self.cursor_key
        old = self._order
        same = (i for i, (a, b) in enumerate(zip(old, keys, strict=False)) if a != b)
        first = next(same, min(len(old), len(keys)))
        self._order = keys
        self._index = {key: index for index, key in enumerate(keys)}
        if cursor is not None and cursor in self._index:
            self._cursor = self._index[cursor]
        else:
            self._cursor = max(0, min(self._cursor, len(keys) - 1))
        self._resize_virtual()
        self._refresh_from(first)
        self._announce()

    # --- painting ------------------------------------------------------------------------------------

    def _refresh_row(self, index: int) -> None:
        """Repaint the line of the row at this position, when it is on the screen."""
        y = index + 1 - int(self.scroll_y)
        if 1 <= y < self.size.height:
            self.refresh(Region(0, y, self.size.width, 1))

    def _refresh_from(self, index: int) -> None:
        y = max(1, index + 1 - int(self.scroll_y))
        if y < self.size.height:
            self.refresh(Region(0, y, self.size.width, self.size.height - y))

    def render_lines(self, crop: Region) -> list[Strip]:
        base = self.rich_style
        look = (self._layout, self.size.width, base, self.has_focus, self._shown)
        if look != self._look:
            self._look = look
            self._lines.clear()
            self._styled.clear()
            styles = self.get_component_styles
            self._paint = {
                "base": base,
                "header": styles("datatable--header").rich_style,
                "even": styles("datatable--even-row").rich_style,
                "odd": styles("datatable--odd-row").rich_style,
                "cursor": self.get_component_rich_style("datatable--cursor"),
            }
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x, scroll_y = self.scroll_offset
        if y == 0:
            strip = self._line(_HEADER, -1, ())
        else:
            index = y - 1 + scroll_y
            if index >= len(self._order):
                return Strip.blank(width, self.rich_style)
            key = self._order[index]
            cursor = index == self._cursor
            stripe = index % 2 if self.zebra_stripes else 0
            strip = self._line(key, index, (self._versions.get(key, 0), cursor, stripe))
        if scroll_x or strip.cell_length != width:
            strip = strip.crop(scroll_x, scroll_x + width).adjust_cell_length(width, self.rich_style)
        return strip

    def _line(self, key: str, index: int, depends: tuple[Any, ...]) -> Strip:
        kept = self._lines.get(key)
        if kept is not None and kept[0] == depends:
            return kept[1]
        strip = self.render_row(key, index)
        self._lines[key] = (depends, strip)
        return strip

    def render_row(self, key: str, index: int) -> Strip:
        """One row's line (index -1: the header), as Textual's DataTable draws it, as wide as the widget
        or the table, whichever is wider. A cell whose text and width are unchanged reuses its segments."""
        paint = self._paint
        header = index < 0
        cursor = not header and index == self._cursor
        stripe = -1 if header else index % 2 if self.zebra_stripes else 0
        if header:
            row_style = paint["header"]
        elif self.zebra_stripes:
            row_style = paint["odd" if stripe else "even"]
        else:
            row_style = paint["base"]
        component = paint["cursor"] if cursor else Style()
        post = Style.from_color(component.color) + Style.from_color(bgcolor=component.bgcolor)
        pre = row_style + component
        cells = self._rows.get(key, {})
        segments: list[Segment] = []
        styled = self._styled
        for column, width in self._shown:
            content = label(column.label) if header else cells.get(column.key, self.EMPTY)
            raw = self._cell_segments(key, column.key, content, width)
            kept = styled.get((key, column.key))
            # Within one look a cell's styles follow from its segments, its row's stripe and the cursor. No
            # per-cell meta (a click is placed by its offset): lines share their styles, so Textual's and
            # Rich's style caches hit when a scroll repaints every line.
            if kept is None or kept[0] is not raw or kept[1] != stripe or kept[2] != cursor:
                # DataTable's style sandwich: row style, then the cell's own, then the cursor's colours.
                done = list(Segment.apply_style(raw, style=pre, post_style=post))
                kept = styled[(key, column.key)] = (raw, stripe, cursor, done)
                self.restyled += 1
            segments.extend(kept[3])
        rest = max(0, self.size.width - self._table_width())
        segments.append(Segment(" " * rest, pre))
        width = max(self.size.width, self._table_width())
        return Strip(segments).adjust_cell_length(width, paint["base"]).simplify()

    def _cell_segments(self, key: str, column: str, content: Text, width: int) -> list[Segment]:
        """A cell's text padded and cut to its column, before the row's styles (kept while the cell's Text
        object and width stay the same: set_row keeps the object of a cell that did not change)."""
        kept = self._cells.get((key, column))
        if kept is not None and kept[0] is content and kept[1] == width:
            return kept[2]
        pad = self.cell_padding
        text = content
        look = (text.plain, text.style, tuple(text.spans), text.justify, text.overflow, pad, width)
        raw = self._looks.get(look)
        if raw is None:  # a cell that looks like one already drawn (a dash, "● up", "4") is not drawn again
            options = self.app.console_options.update_dimensions(width + 2 * pad, 1).update(no_wrap=True)
            raw = self.app.console.render_lines(Padding(content, (0, pad)), options)[0]
            if len(self._looks) >= _LOOKS:
                self._looks.clear()
            self._looks[look] = raw
        self._cells[(key, column)] = (content, width, raw)
        return raw

    # --- keys and the mouse --------------------------------------------------------------------------

    def action_cursor_up(self) -> None:
        self.move_cursor(row=self._cursor - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(row=self._cursor + 1)

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def action_page_up(self) -> None:
        self.move_cursor(row=self._cursor - self._page())

    def action_page_down(self) -> None:
        self.move_cursor(row=self._cursor + self._page())

    def action_scroll_top(self) -> None:
        self.move_cursor(row=0)

    def action_scroll_bottom(self) -> None:
        self.move_cursor(row=len(self._order) - 1)

    def action_select_cursor(self) -> None:
        key = self.cursor_key
        if key is not None:
            self.post_message(DataTable.RowSelected(self, self._cursor, RowKey(key)))  # type: ignore[arg-type]

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        scroll_x, scroll_y = self.scroll_offset
        if offset.y == 0:  # the header: which column's cells are under the pointer
            x, left = offset.x + scroll_x, 0
            for position, (column, width) in enumerate(self._shown):
                left += width + 2 * self.cell_padding
                if x < left:
                    column_key = ColumnKey(column.key)
                    selected = DataTable.HeaderSelected(self, column_key, position, label(column.label))  # type: ignore[arg-type]
                    self.post_message(selected)
                    break
            return
        index = offset.y - 1 + scroll_y
        if not 0 <= index < len(self._order):
            return
        again = index == self._cursor
        self.move_cursor(row=index)
        if again:
            self.action_select_cursor()
        event.stop()
