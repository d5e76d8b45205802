"""The dashboard's releases view: the catalog, how many nodes run each release, and how far behind."""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from fleetctl.tui.data import dashboard, refresh_every, release_rows
from fleetctl.tui.widgets.cells import cell

COLUMNS = (("release", "RELEASE"), ("published", "PUBLISHED"), ("kernel", "GUEST-KERNEL"), ("arches", "ARCHES"),
           ("nodes", "NODES"), ("behind", "BEHIND-LATEST"))  # fmt: skip


class ReleasesScreen(Screen[None]):
    """Kata releases and the nodes on each."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.quit", "Quit"),
    ]

    def compose(self) -> ComposeResult:
        yield Static("[b]Kata releases[/]  (behind-latest: releases newer than the one the nodes run)")
        yield DataTable(id="releases", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#releases", DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        self._load()
        if every := refresh_every(dashboard(self)):  # every view refreshes itself (0: never)
            self.set_interval(every, self._load)

    @work(thread=True, exclusive=True)
    def _load(self) -> None:
        rows = release_rows(dashboard(self).store)
        self.app.call_from_thread(self._show, rows)

    def _show(self, rows: list[dict[str, str]]) -> None:
        table = self.query_one("#releases", DataTable)
        row_at = table.cursor_row
        table.clear()
        for row in rows:
            table.add_row(*(cell(k, row[k]) for k, _ in COLUMNS), key=row["release"])
        if rows:
            table.move_cursor(row=min(row_at, len(rows) - 1))
