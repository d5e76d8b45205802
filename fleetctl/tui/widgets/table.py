"""A keyed, virtual table for 10,000 nodes: only the lines on screen are ever rendered.

Textual's DataTable keeps a widget-level record per row and measures every cell, which costs
about a tenth of a millisecond per row; this table keeps plain dicts and renders lines on
demand (the Line API), so loading, filtering and refreshing cost the same whatever the fleet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from fleetctl.tui.widgets.cells import HEALTH_STYLES

GAP = 2
HEADER = Style(bold=True)
CURSOR = Style(reverse=True)
ZEBRA = Style(bgcolor="grey11")
SORTED = Style(bold=True, underline=True)


class NodeTable(ScrollView, can_focus=True):
    """Rows keyed by ``cluster/name``; a fixed header line; a row cursor and a column cursor."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "cursor(-1000000000)", "First", show=False),
        Binding("end", "cursor(1000000000)", "Last", show=False),
        Binding("left", "column(-1)", "Column left", show=False),
        Binding("right", "column(1)", "Column right", show=False),
        Binding("enter", "select", "Open"),
    ]

    class RowSelected(Message):
        """Enter (or a click) on a row."""

        def __init__(self, table: NodeTable, key: str) -> None:
            super().__init__()
            self.table, self.key = table, key

        @property
        def control(self) -> NodeTable:
            """The table (what ``@on(..., "#nodes")`` matches)."""
            return self.table

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns: list[tuple[str, str]] = []
        self.widths: dict[str, int] = {}
        self.order: list[str] = []
        self.rows: dict[str, Mapping[str, str]] = {}
        self.index: dict[str, int] = {}
        self.cursor_row = 0
        self.cursor_column = 0
        self.sorted_by: str | None = None

    # --- data ---------------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        """How many rows the table holds."""
        return len(self.order)

    def set_columns(self, columns: Sequence[tuple[str, str]], widths: Mapping[str, int]) -> None:
        """The columns (key, label) and their widths."""
        self.columns, self.widths = list(columns), dict(widths)
        self.cursor_column = min(self.cursor_column, max(0, len(self.columns) - 1))
        self._resize()

    def set_rows(self, order: Sequence[str], rows: Mapping[str, Mapping[str, str]]) -> None:
        """Replace every row (a new view: the first paint, a filter, a sort)."""
        current = self.order[self.cursor_row] if self.order and self.cursor_row < len(self.order) else None
        self.order, self.rows = list(order), dict(rows)
        self.index = {k: i for i, k in enumerate(self.order)}
        self.cursor_row = self.index.get(current, 0) if current else 0
        self._resize()
        self.refresh()

    def update_rows(self, changed: Mapping[str, Mapping[str, str]]) -> None:
        """Change rows in place by key, repainting only the lines on screen that changed."""
        top = round(self.scroll_y)
        for key, row in changed.items():
            self.rows[key] = row
            i = self.index.get(key)
            if i is not None and top <= i < top + self.size.height:
                self.refresh_line(i - top + 1)

    def get_column(self, key: str) -> list[str]:
        """A column's values in display order."""
        return [self.rows[k].get(key, "") for k in self.order]

    def move_cursor(self, *, row: int | None = None, column: int | None = None) -> None:
        """Put the cursor on a row and/or column."""
        if row is not None:
            self.cursor_row = max(0, min(row, len(self.order) - 1))
            self._follow()
        if column is not None:
            self.cursor_column = max(0, min(column, len(self.columns) - 1))
        self.refresh()

    @property
    def cursor_key(self) -> str | None:
        """The row under the cursor."""
        return self.order[self.cursor_row] if 0 <= self.cursor_row < len(self.order) else None

    @property
    def cursor_column_key(self) -> str | None:
        """The column under the cursor."""
        return self.columns[self.cursor_column][0] if self.columns else None

    # --- keys ---------------------------------------------------------------------------------

    def action_cursor(self, delta: int) -> None:
        """Move the row cursor."""
        self.move_cursor(row=self.cursor_row + delta)

    def action_page(self, direction: int) -> None:
        """Move the row cursor by a screen."""
        self.move_cursor(row=self.cursor_row + direction * max(1, self.size.height - 2))

    def action_column(self, delta: int) -> None:
        """Move the column cursor (the column `s` sorts by)."""
        self.move_cursor(column=self.cursor_column + delta)
        x = sum(self.widths.get(k, 0) + GAP for k, _ in self.columns[: self.cursor_column])
        if not self.scroll_x <= x < self.scroll_x + self.size.width:
            self.scroll_to(x=x, animate=False)

    def action_select(self) -> None:
        """Open the row under the cursor."""
        if self.cursor_key is not None:
            self.post_message(self.RowSelected(self, self.cursor_key))

    def on_click(self, event: Click) -> None:
        """A click puts the cursor on a row; a second click on it opens it."""
        row = round(self.scroll_y) + event.y - 1
        if event.y >= 1 and 0 <= row < len(self.order):
            if row == self.cursor_row:
                self.action_select()
            self.move_cursor(row=row)

    # --- rendering ----------------------------------------------------------------------------

    def _resize(self) -> None:
        width = sum(self.widths.get(k, 0) + GAP for k, _ in self.columns)
        self.virtual_size = Size(width, len(self.order) + 1)

    def _follow(self) -> None:
        height = max(1, self.size.height - 1)
        top = round(self.scroll_y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row >= top + height:
            self.scroll_to(y=self.cursor_row - height + 1, animate=False)

    def render_line(self, y: int) -> Strip:
        """The header on the first line; below it, the rows from the scroll offset."""
        width = self.size.width
        x = round(self.scroll_x)
        if y == 0:
            segments = [
                Segment(label[: self.widths[k]].ljust(self.widths[k] + GAP), SORTED if k == self.sorted_by else HEADER)
                for k, label in self.columns
            ]
            return Strip(segments).crop(x, x + width).extend_cell_length(width)
        i = round(self.scroll_y) + y - 1
        if not 0 <= i < len(self.order):
            return Strip.blank(width)
        row = self.rows[self.order[i]]
        segments = []
        for k, _ in self.columns:
            text = row.get(k, "")
            w = self.widths[k]
            style = HEALTH_STYLES.get(text) if k == "health" else None
            segments.append(Segment((text[: w - 1] + "…" if len(text) > w else text).ljust(w), style))
            segments.append(Segment(" " * GAP))
        strip = Strip(segments).crop(x, x + width).extend_cell_length(width)
        if i == self.cursor_row:
            return strip.apply_style(CURSOR)
        return strip.apply_style(ZEBRA) if i % 2 else strip
