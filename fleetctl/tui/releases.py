"""The dashboard's releases view: the catalog, how many nodes run each release, and how far behind."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from fleetctl.tui.cells import cell
from fleetctl.tui.model import NONE
from store.engine import Store

COLUMNS = (("release", "RELEASE"), ("published", "PUBLISHED"), ("kernel", "GUEST-KERNEL"), ("arches", "ARCHES"),
           ("nodes", "NODES"), ("behind", "BEHIND-LATEST"))  # fmt: skip


def release_rows(store: Store) -> list[dict[str, str]]:
    """One row per catalog release (newest first), plus installed releases the catalog lacks."""
    from collectors.releases.catalog import ensure_catalog
    from store.releases import list_releases, nodes_per_release

    ensure_catalog(store)
    with store.read() as session:
        releases = list_releases(session)
        counts = nodes_per_release(session)
    rows, known = [], set()
    for behind, r in enumerate(releases):
        known.add(r.version)
        rows.append(
            {
                "release": r.version,
                "published": r.published_at.strftime("%Y-%m-%d") if r.published_at else NONE,
                "kernel": r.guest_kernel or NONE,
                "arches": ", ".join(r.arches or []) or NONE,
                "nodes": str(counts.get(r.version, 0)),
                "behind": str(behind) if counts.get(r.version) else "",
            }
        )
    for version, n in sorted(counts.items(), key=lambda kv: str(kv[0])):
        if version not in known:
            rows.append(
                {"release": version or NONE, "published": NONE, "kernel": NONE, "arches": NONE, "nodes": str(n),
                 "behind": "not in the catalog" if version else "unknown"}
            )  # fmt: skip
    return rows


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
        app: Any = self.app
        self.set_interval(max(0.5, app.refresh_s or 2.0), self._load)

    @work(thread=True, exclusive=True)
    def _load(self) -> None:
        app: Any = self.app
        rows = release_rows(app.store)
        self.app.call_from_thread(self._show, rows)

    def _show(self, rows: list[dict[str, str]]) -> None:
        table = self.query_one("#releases", DataTable)
        row_at = table.cursor_row
        table.clear()
        for row in rows:
            table.add_row(*(cell(k, row[k]) for k, _ in COLUMNS), key=row["release"])
        if rows:
            table.move_cursor(row=min(row_at, len(rows) - 1))
