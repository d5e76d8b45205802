"""The fleet view: totals, the release x arch matrix, guest kernels and the node table."""

from __future__ import annotations

import time
from typing import ClassVar

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from fleetctl.tui.data import Snapshot, dashboard, read_fleet
from fleetctl.tui.model import COLUMNS, NONE, WIDE_COLUMNS, Matrix, Totals, age, diff_rows, totals_line
from fleetctl.tui.screens.node import NodeScreen
from fleetctl.tui.widgets.table import NodeTable


class FleetScreen(Screen[None]):
    """Totals, the release x arch matrix, guest kernels and the node table."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("s", "sort", "Sort column"),
        Binding("w", "wide", "Wide"),
        Binding("r", "refresh", "Refresh"),
        Binding("u", "upgrades", "Upgrades"),
        Binding("v", "releases", "Releases"),
        Binding("q", "app.quit", "Quit"),
    ]

    AUTO_FOCUS = "#nodes"  # the node table: the footer shows Enter (open) from the first frame

    def __init__(self) -> None:
        super().__init__()
        self.totals: tuple[Totals, str] | None = None  # the fleet's totals and the data's age, as last read
        self.where: str | None = None
        self.wide = False
        self.sort_column = "name"
        self.descending = False  # `s` on the sorted column again turns the order round
        self.rows: dict[str, dict[str, str]] = {}
        self.ui_seconds = self.shown_at = 0.0
        self.fleet_size = 0
        self.focus_table_after_load = False

    def compose(self) -> ComposeResult:
        yield Static(id="totals")
        with Horizontal(id="overview"):
            yield DataTable(id="matrix", cursor_type="cell", zebra_stripes=True)
            yield Static(id="kernels")
        yield Input(placeholder="filter: arch = s390x and kata < 4.0   (enter applies, escape clears)", id="filter")
        yield NodeTable(id="nodes")
        yield Static(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self._columns()
        self.action_refresh()

    def _columns(self) -> None:
        """Forget the rows: the next refresh builds the table with the current columns."""
        self.rows = {}

    # --- loading ------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        """Read the store again (in a worker thread)."""
        self._load(self.where)

    @work(thread=True, exclusive=True, group="load")
    def _load(self, where: str | None, *, fleet: bool = True) -> None:
        columns = [k for k, _ in (WIDE_COLUMNS if self.wide else COLUMNS)]
        app = dashboard(self)
        snapshot = read_fleet(
            app.store, app.clock(), where, self.sort_column, columns, fleet=fleet, descending=self.descending
        )
        self.app.call_from_thread(self._show, snapshot)

    def _show(self, snap: Snapshot) -> None:
        started = time.perf_counter()
        try:
            self._apply(snap)
        finally:
            self.shown_at = time.perf_counter()  # when the table took this refresh's rows (bench_tui)
            self.ui_seconds = self.shown_at - started  # the UI thread's share of a refresh (bench_tui)

    def _apply(self, snap: Snapshot) -> None:
        status = self.query_one("#status", Static)
        if snap.error:
            status.update(f"[b red]{escape(snap.error)}[/]")
            return
        if snap.totals is not None and snap.matrix is not None:
            self._overview(snap)
            self.fleet_size = snap.fleet_size
        self._rows(snap)
        self._status_line()
        if self.focus_table_after_load:
            self.focus_table_after_load = False
            self.call_after_refresh(self.query_one("#nodes", NodeTable).focus)

    def _status_line(self) -> None:
        shown = f"{len(self.rows)} of {self.fleet_size} nodes"
        where = f"  where: {escape(self.where)}" if self.where else ""
        hint = "  (s sorts by the column under the cursor, again turns it round; left and right move it)"
        order = "descending" if self.descending else "ascending"
        if self.sort_column == "health":
            order = "ok first" if self.descending else "crit first"
        self.query_one("#status", Static).update(f"{shown}{where}  sorted by {self.sort_column} ({order}){hint}")

    def _overview(self, snap: Snapshot) -> None:
        assert snap.totals is not None and snap.matrix is not None
        now = dashboard(self).clock()
        data_age = f"data {age((now - snap.oldest).total_seconds())} old" if snap.oldest else "never collected"
        self.totals = (snap.totals, data_age)
        self._totals_bar()
        self._matrix(snap.matrix)
        self.query_one("#kernels", Static).update(
            "[b]guest kernels[/]\n"
            + "\n".join(f"{escape(k)}{' (custom)' if custom else ''}: {n}" for k, custom, n in snap.kernels[:8])
        )

    def _totals_bar(self) -> None:
        """The totals in the bar's width: parts shorten or go by priority, the counts never do."""
        if self.totals is None:
            return
        bar = self.query_one("#totals", Static)
        width = bar.size.width or max(1, self.app.size.width - 2)  # before the first layout: the screen's, less padding
        markup, _ = totals_line(*self.totals, width)
        bar.update(markup)

    def on_resize(self) -> None:
        self.call_after_refresh(self._totals_bar)  # the bar's new width is known after the layout

    def _matrix(self, m: Matrix) -> None:
        table = self.query_one("#matrix", DataTable)
        if [str(c.key.value) for c in table.columns.values()] != ["kata", *m.arches]:
            table.clear(columns=True)
            table.add_column("KATA", key="kata")
            for arch in m.arches:
                table.add_column(arch, key=arch)
        keys = {str(k.value) for k in table.rows}
        for release in m.releases:
            values = [release, *(str(m.counts.get((release, a), "")) for a in m.arches)]
            if release in keys:
                for arch, value in zip(["kata", *m.arches], values, strict=True):
                    table.update_cell(release, arch, value, update_width=True)
            else:
                table.add_row(*values, key=release)
        for gone in keys - set(m.releases):
            table.remove_row(gone)

    def _rows(self, snap: Snapshot) -> None:
        table = self.query_one("#nodes", NodeTable)
        labels = dict(WIDE_COLUMNS)
        columns = [(c, labels[c]) for c in snap.widths]
        diff = diff_rows(self.rows, snap.rows)
        if not self.rows or diff.added or diff.removed or table.columns != columns:
            table.set_columns(columns, snap.widths)  # a new view: rows in the worker's order (O(n), no widgets)
            table.set_rows(list(snap.rows), snap.rows)
        else:
            if snap.widths != table.widths:  # a value grew (ok to unknown): the column grows, nothing is cut
                table.set_columns(columns, snap.widths)
                table.refresh()
            if diff.changed:
                table.update_rows({k: snap.rows[k] for k in diff.changed})  # by key: only changed lines repaint
            order = list(snap.rows)  # the worker sorted the items by SORT_KEYS
            if order != table.order:
                table.set_rows(order, snap.rows)
        table.sorted_by = self.sort_column
        self.rows = snap.rows

    # --- keys ---------------------------------------------------------------------------------

    def action_filter(self) -> None:
        """Show the filter box (the on-call query language)."""
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def action_clear_filter(self) -> None:
        """Drop the filter."""
        box = self.query_one("#filter", Input)
        box.value, box.display = "", False
        self.where = None
        self.query_one("#nodes", NodeTable).focus()
        self.action_refresh()

    @on(Input.Submitted, "#filter")
    def _filter(self, event: Input.Submitted) -> None:
        self.where = event.value.strip() or None
        self.focus_table_after_load = True  # after the rows: moving focus restyles the screen, rows come first
        self._load(self.where, fleet=False)  # the totals and the matrix are the fleet's: they stay

    def action_sort(self) -> None:
        """Sort by the column under the cursor (left and right move it)."""
        table = self.query_one("#nodes", NodeTable)
        column = table.cursor_column_key
        if column:
            self.descending = column == self.sort_column and not self.descending
            self.sort_column = column  # the worker orders the rows by it (model.SORT_KEYS, on the values)
            self._load(self.where, fleet=not self.where)

    def action_upgrades(self) -> None:
        """The upgrade runs."""
        from fleetctl.tui.screens.upgrades import UpgradesScreen

        self.app.push_screen(UpgradesScreen())

    def action_releases(self) -> None:
        """The release catalog and the nodes on each release."""
        from fleetctl.tui.screens.releases import ReleasesScreen

        self.app.push_screen(ReleasesScreen())

    def action_wide(self) -> None:
        """Toggle the wide columns."""
        self.wide = not self.wide
        self._columns()
        self.action_refresh()

    @on(DataTable.CellSelected, "#matrix")
    def _matrix_cell(self, event: DataTable.CellSelected) -> None:
        release, arch = str(event.cell_key.row_key.value), str(event.cell_key.column_key.value)
        parts = [] if release == NONE else [f"kata = {release}"]
        if arch != "kata":
            parts.append(f"arch = {arch}")
        self.where = " and ".join(parts) or None
        box = self.query_one("#filter", Input)
        box.value, box.display = self.where or "", bool(self.where)
        self.action_refresh()

    @on(NodeTable.RowSelected, "#nodes")
    def _drill(self, event: NodeTable.RowSelected) -> None:
        cluster, _, name = event.key.partition("/")
        self.app.push_screen(NodeScreen(cluster, name))
