"""``fleetctl tui``: the fleet dashboard in Textual, read from the store (so it works offline).

Reads run in worker threads, each a short read transaction; the table is updated by key
(rows added, removed or changed), never cleared and refilled. Actions that change a cluster
work only when the app was started with ``--write``; ``check_action`` is the one place that
enforces it, so a key that cannot run shows dimmed in the footer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from rich.markup import escape
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from fleetctl.tui.model import (
    COLUMNS,
    HEALTH_ORDER,
    NONE,
    WIDE_COLUMNS,
    age,
    cells,
    diff_rows,
    kernels,
    key_of,
    matrix,
    totals,
)
from store.engine import Store
from store.errors import FleetctlError
from store.versions import KataVersion

WRITE_ACTIONS = frozenset({"pause_run", "resume_run", "abort_run", "rollback_run"})


@dataclass
class Snapshot:
    """One refresh: every node, the filtered ones, and the data's age."""

    fleet: list[dict[str, Any]]
    shown: list[dict[str, Any]]
    oldest: datetime | None
    error: str | None = None


def _sort_value(column: str, text: str) -> Any:
    """Sort key for a cell's text (ages, versions and health sort by meaning, not spelling)."""
    if text == NONE:
        return (1, "")
    if column == "age":
        m = re.fullmatch(r"(\d+)([smhd])", text)
        return (0, -int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]) if m else (1, text)
    if column == "kata":
        try:
            return (0, KataVersion.parse(text.split()[0]).sort_key())
        except ValueError:
            return (1, text)
    if column == "health":
        return (0, HEALTH_ORDER.index(text) if text in HEALTH_ORDER else 9)
    if column == "cpu":
        return (0, float(text))
    return (0, text)


class FleetScreen(Screen[None]):
    """Totals, the release x arch matrix, guest kernels and the node table."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("s", "sort", "Sort column"),
        Binding("w", "wide", "Wide"),
        Binding("r", "refresh", "Refresh"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.where: str | None = None
        self.wide = False
        self.sort_column = "name"
        self.rows: dict[str, dict[str, str]] = {}

    def compose(self) -> ComposeResult:
        yield Static(id="totals")
        with Horizontal(id="overview"):
            yield DataTable(id="matrix", cursor_type="cell", zebra_stripes=True)
            yield Static(id="kernels")
        yield Input(placeholder="filter: arch = s390x and kata < 4.0   (enter applies, escape clears)", id="filter")
        yield DataTable(id="nodes", cursor_type="row", zebra_stripes=True)
        yield Static(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        self._columns()
        self.action_refresh()

    @property
    def fleet_app(self) -> FleetApp:
        app = self.app
        assert isinstance(app, FleetApp)
        return app

    def _columns(self) -> None:
        table = self.query_one("#nodes", DataTable)
        table.clear(columns=True)
        self.rows = {}
        for key, label in WIDE_COLUMNS if self.wide else COLUMNS:
            table.add_column(label, key=key)

    # --- loading ------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        """Read the store again (in a worker thread)."""
        self._load(self.where)

    @work(thread=True, exclusive=True, group="load")
    def _load(self, where: str | None) -> None:
        snapshot = self.fleet_app.read(where)
        self.app.call_from_thread(self._show, snapshot)

    def _show(self, snap: Snapshot) -> None:
        status = self.query_one("#status", Static)
        if snap.error:
            status.update(f"[b red]{escape(snap.error)}[/]")
            return
        now = self.fleet_app.clock()
        data_age = f"data {age((now - snap.oldest).total_seconds())} old" if snap.oldest else "never collected"
        t = totals(snap.fleet)
        health = "  ".join(f"{h} {n}" for h, n in t.health.items())
        self.query_one("#totals", Static).update(
            f"[b]{t.clusters}[/] clusters  [b]{t.nodes}[/] nodes  [b]{t.vcpus:g}[/] vCPUs  [b]{t.releases}[/] Kata releases  "
            f"[b]{t.drift}[/] drift  [b]{t.custom_kernels}[/] custom kernels  |  {health}  |  {data_age}"
        )
        self._matrix(snap.fleet)
        self.query_one("#kernels", Static).update(
            "[b]guest kernels[/]\n"
            + "\n".join(f"{escape(k)}{' (custom)' if custom else ''}: {n}" for k, custom, n in kernels(snap.fleet)[:8])
        )
        self._rows(snap.shown)
        shown = f"{len(snap.shown)} of {len(snap.fleet)} nodes"
        where = f"  where: {escape(self.where)}" if self.where else ""
        status.update(f"{shown}{where}  sorted by {self.sort_column}")

    def _matrix(self, fleet: list[dict[str, Any]]) -> None:
        m = matrix(fleet)
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
                    table.update_cell(release, arch, value)
            else:
                table.add_row(*values, key=release)
        for gone in keys - set(m.releases):
            table.remove_row(gone)

    def _rows(self, items: list[dict[str, Any]]) -> None:
        table = self.query_one("#nodes", DataTable)
        columns = [k for k, _ in (WIDE_COLUMNS if self.wide else COLUMNS)]
        new = {key_of(i): {c: v for c, v in cells(i).items() if c in columns} for i in items}
        diff = diff_rows(self.rows, new)
        for key in diff.removed:
            table.remove_row(key)
        for key, changed in diff.changed.items():
            for column, value in changed.items():
                table.update_cell(key, column, value)
        for key in diff.added:
            table.add_row(*(new[key][c] for c in columns), key=key)
        self.rows = new
        if diff.added or diff.changed:
            self._sort()

    def _sort(self) -> None:
        column = self.sort_column
        self.query_one("#nodes", DataTable).sort(column, key=lambda value: _sort_value(column, str(value)))

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
        self.query_one("#nodes", DataTable).focus()
        self.action_refresh()

    @on(Input.Submitted, "#filter")
    def _filter(self, event: Input.Submitted) -> None:
        self.where = event.value.strip() or None
        self.query_one("#nodes", DataTable).focus()
        self.action_refresh()

    def action_sort(self) -> None:
        """Sort by the column under the cursor."""
        table = self.query_one("#nodes", DataTable)
        columns = list(table.columns)
        if columns:
            self.sort_column = str(columns[min(table.cursor_column, len(columns) - 1)].value)
            self._sort()
            self.action_refresh()

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

    @on(DataTable.RowSelected, "#nodes")
    def _drill(self, event: DataTable.RowSelected) -> None:
        cluster, _, name = str(event.row_key.value).partition("/")
        self.app.push_screen(NodeScreen(cluster, name))


class NodeScreen(Screen[None]):
    """One node: facts, checks with remediation, history, health transitions, the upgrade step."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, cluster: str, name: str) -> None:
        super().__init__()
        self.cluster, self.node = cluster, name

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"[b]{escape(self.node)}[/]  ({escape(self.cluster)})", id="title")
            yield Static("loading...", id="details")
        yield Footer()

    def on_mount(self) -> None:
        self._load()

    @work(thread=True)
    def _load(self) -> None:
        app = self.app
        assert isinstance(app, FleetApp)
        text = app.describe(self.cluster, self.node)
        app.call_from_thread(self.query_one("#details", Static).update, text)


class FleetApp(App[None]):
    """The dashboard. ``store_factory`` opens the store in a worker thread; ``clock`` is injectable for tests."""

    TITLE = "fleetctl"
    CSS = """
    #totals { height: 1; padding: 0 1; background: $boost; }
    #overview { height: 10; }
    #matrix { width: 2fr; }
    #kernels { width: 1fr; padding: 0 1; }
    #nodes { height: 1fr; }
    #status { height: auto; max-height: 4; padding: 0 1; color: $text-muted; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+c", "quit", "Quit", show=False)]

    def __init__(
        self,
        store: Store,
        *,
        refresh_s: float = 5.0,
        write: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__()
        self.store, self.refresh_s, self.write, self.clock = store, refresh_s, write, clock

    def on_mount(self) -> None:
        self.push_screen(FleetScreen())
        if self.refresh_s > 0:
            self.set_interval(self.refresh_s, self._tick)

    def _tick(self) -> None:
        screen = self.screen
        if isinstance(screen, FleetScreen):
            screen.action_refresh()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The one place that refuses cluster changes without --write (None: shown dimmed)."""
        if action in WRITE_ACTIONS and not self.write:
            return None
        return True

    def read(self, where: str | None) -> Snapshot:
        """The fleet and the filtered nodes, from the store (called in a worker thread)."""
        from store.query.reading import read_nodes

        now = self.clock()
        try:
            fleet = read_nodes(self.store, where=None, selector=None, now=now)
            shown = read_nodes(self.store, where=where, selector=None, now=now).items if where else fleet.items
        except FleetctlError as exc:
            return Snapshot([], [], None, error=f"{exc.message}" + (f"  ({exc.hint})" if exc.hint else ""))
        return Snapshot(fleet.items, shown, fleet.oldest())

    def describe(self, cluster: str, name: str) -> str:
        """The node view's text (called in a worker thread)."""
        from store.query.facts_read import read_node

        found = read_node(self.store, name, cluster)
        if not found:
            return f"{cluster}/{name} is not in the store"
        n = found[0]
        state, lines = n["state"], []
        lines.append("[b]facts[/]")
        for label, value in (
            ("arch", state.arch), ("zone", state.zone), ("kata", state.kata_version),
            ("kata-deploy", state.kata_deploy_version), ("guest kernel", state.guest_kernel),
            ("custom kernel", "yes" if state.custom_kernel else "no"),
            ("hypervisor", f"{state.hypervisor or NONE} {state.hypervisor_version or ''}".strip()),
            ("host kernel", state.host_kernel), ("runtime handlers", ", ".join(state.runtime_handlers or []) or NONE),
            ("drift", "; ".join(state.drift or []) or NONE), ("ready", state.ready), ("cordoned", state.unschedulable),
        ):  # fmt: skip
            lines.append(f"  {label:<17} {escape(str(value)) if value not in (None, '') else NONE}")
        lines.append("\n[b]checks[/]")
        for c in n["checks"]:
            fix = f"\n      fix: {escape(c.remediation)}" if c.status != "ok" and c.remediation else ""
            lines.append(f"  {c.code:<8} {c.status:<8} {escape(c.message)}{fix}")
        if not n["checks"]:
            lines.append("  none yet (collect with --prometheus for VM health)")
        lines.append("\n[b]changes[/] (newest first)")
        for ch in n["changes"][:15]:
            lines.append(f"  {ch.at:%Y-%m-%d %H:%M}  {ch.fact}: {escape(ch.old or NONE)} -> {escape(ch.new or NONE)}")
        lines.append("\n[b]health transitions[/]")
        for tr in n["transitions"][:10]:
            lines.append(f"  {tr.at:%Y-%m-%d %H:%M}  {tr.code}: {tr.old_status or NONE} -> {tr.new_status}")
        step = n["step"]
        lines.append("\n[b]upgrade[/]")
        lines.append(f"  run {step.run_id}: {step.step} ({step.state}) {escape(step.message)}" if step else "  none")
        return "\n".join(lines)
