"""``fleetctl tui``: the fleet dashboard in Textual, read from the store (so it works offline).

Reads run in worker threads, each a short read transaction; the table is updated by key
(rows added, removed or changed), never cleared and refilled. Actions that change a cluster
work only when the app was started with ``--write``; ``check_action`` is the one place that
enforces it, so a key that cannot run shows dimmed in the footer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from fleetctl.services import RunExecutor
    from store.runs import RunView

from rich.markup import escape
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from fleetctl.tui.model import (
    COLUMNS,
    NONE,
    SORT_KEYS,
    WIDE_COLUMNS,
    Matrix,
    Totals,
    age,
    cells,
    diff_rows,
    kernels,
    key_of,
    matrix,
    totals,
)
from fleetctl.tui.table import NodeTable
from store.engine import Store
from store.errors import FleetctlError

WRITE_ACTIONS = frozenset({"pause_run", "resume_run", "abort_run", "rollback_run"})


@dataclass
class Snapshot:
    """One refresh, prepared in the worker thread: the UI thread only applies it."""

    rows: dict[str, dict[str, str]]  # the shown nodes' cells, keyed, in display order
    widths: dict[str, int]
    totals: Totals | None
    matrix: Matrix | None
    kernels: list[tuple[str, bool, int]]
    fleet_size: int
    oldest: datetime | None
    error: str | None = None


MAX_WIDTH = 48


def prepare(
    fleet: list[dict[str, Any]] | None,
    shown: list[dict[str, Any]],
    sort_column: str,
    columns: list[str],
    *,
    descending: bool = False,
) -> Snapshot:
    """Everything the fleet view shows, computed off the UI thread (``fleet`` None: rows only)."""
    by = SORT_KEYS.get(sort_column, SORT_KEYS["name"])
    ordered = sorted(shown, key=by, reverse=descending)
    rows = {key_of(i): {c: v for c, v in cells(i).items() if c in columns} for i in ordered}
    labels = dict(WIDE_COLUMNS)
    widths = {c: min(MAX_WIDTH, max([len(labels[c]), *(len(r[c]) for r in rows.values())])) for c in columns}
    if fleet is None:
        return Snapshot(rows, widths, None, None, [], 0, None)
    return Snapshot(rows, widths, totals(fleet), matrix(fleet), kernels(fleet), len(fleet), None)


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

    def __init__(self) -> None:
        super().__init__()
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

    @property
    def fleet_app(self) -> FleetApp:
        app = self.app
        assert isinstance(app, FleetApp)
        return app

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
        snapshot = self.fleet_app.read(where, self.sort_column, columns, fleet=fleet, descending=self.descending)
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
        now = self.fleet_app.clock()
        data_age = f"data {age((now - snap.oldest).total_seconds())} old" if snap.oldest else "never collected"
        t = snap.totals
        health = "  ".join(f"{h} {n}" for h, n in t.health.items())
        self.query_one("#totals", Static).update(
            f"[b]{t.clusters}[/] clusters  [b]{t.nodes}[/] nodes  [b]{t.vcpus:g}[/] vCPUs  [b]{t.releases}[/] Kata releases  "
            f"[b]{t.drift}[/] drift  [b]{t.custom_kernels}[/] custom kernels  |  {health}  |  {data_age}"
        )
        self._matrix(snap.matrix)
        self.query_one("#kernels", Static).update(
            "[b]guest kernels[/]\n"
            + "\n".join(f"{escape(k)}{' (custom)' if custom else ''}: {n}" for k, custom, n in snap.kernels[:8])
        )

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
        from fleetctl.tui.upgrades import UpgradesScreen

        self.app.push_screen(UpgradesScreen())

    def action_releases(self) -> None:
        """The release catalog and the nodes on each release."""
        from fleetctl.tui.releases import ReleasesScreen

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


class NodeScreen(Screen[None]):
    """One node: facts, checks with remediation, history, health transitions, the upgrade step."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "refresh", "Refresh"),
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
        app = self.app
        assert isinstance(app, FleetApp)
        self.set_interval(max(0.5, app.refresh_s or 2.0), self._load)  # every view refreshes itself

    def action_refresh(self) -> None:
        """Read the node again."""
        self._load()

    @work(thread=True, exclusive=True, group="node")
    def _load(self) -> None:
        app = self.app
        assert isinstance(app, FleetApp)
        text = app.describe(self.cluster, self.node)
        app.call_from_thread(self.query_one("#details", Static).update, text)


class FleetApp(App[None]):
    """The dashboard. ``store_factory`` opens the store in a worker thread; ``clock`` is injectable for tests."""

    TITLE = "fleetctl"
    CSS_PATH = "app.tcss"  # the dashboard's one style sheet, every screen's rules in it
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+c", "quit", "Quit", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("colon", "command", "Command"),
        Binding("g", "guide", "Guide", show=False),
    ]

    def __init__(
        self,
        store: Store,
        *,
        refresh_s: float = 5.0,
        write: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        executor: RunExecutor | None = None,
        guide: str | None = None,
    ) -> None:
        super().__init__()
        self.store, self.refresh_s, self.write, self.clock = store, refresh_s, write, clock
        self.executor = executor  # runs a run to its end in the calling thread (resume, rollback)
        self.guide = guide  # the demo's guided steps: shown first, reopened with g

    def on_mount(self) -> None:
        self.push_screen(FleetScreen())
        if self.refresh_s > 0:
            self.set_interval(self.refresh_s, self._tick)
        if self.guide:
            self.action_guide()

    # --- k9s's aids: ? keys, : commands, g the guide ---------------------------------------------

    def action_help(self) -> None:
        """Every key of the current view."""
        from fleetctl.tui.help import HelpScreen, keys_of

        if not isinstance(self.screen, HelpScreen):
            view = type(self.screen).__name__.removesuffix("Screen").lower()
            self.push_screen(HelpScreen(view, keys_of(self, self.screen)))

    def action_guide(self) -> None:
        """The demo's guided steps (only a dashboard the demo started has them)."""
        from fleetctl.tui.help import GuideScreen

        if not self.guide:
            self.notify("no guide here: `fleetctl demo` (make demo) starts the dashboard with one", severity="warning")
        elif not isinstance(self.screen, GuideScreen):
            self.push_screen(GuideScreen(self.guide))

    def action_command(self) -> None:
        """A k9s-style command line."""
        from fleetctl.tui.help import CommandLine

        self.push_screen(CommandLine(), lambda text: self.run_command(text) if text is not None else None)

    def run_command(self, text: str) -> None:
        """Go to the view a ``:`` command names; a mistake is a notification saying what to type."""
        from fleetctl.tui.help import CommandError, parse_command
        from fleetctl.tui.releases import ReleasesScreen
        from fleetctl.tui.upgrades import UpgradesScreen

        try:
            command = parse_command(text)
        except CommandError as exc:
            self.notify(str(exc), severity="error")
            return
        if command.verb == "q":
            self.exit()
            return
        while len(self.screen_stack) > 2 and not isinstance(self.screen, FleetScreen):
            self.pop_screen()  # every view is one step from the fleet view, as in k9s
        if command.verb == "upgrades":
            self.push_screen(UpgradesScreen())
        elif command.verb == "releases":
            self.push_screen(ReleasesScreen())
        elif command.verb == "node":
            self._open_node(command.argument)

    @work(thread=True, exclusive=True, group="command")
    def _open_node(self, name: str) -> None:
        from store.query.facts_read import read_node

        found = read_node(self.store, name, None)
        if not found:
            self.call_from_thread(self.notify, f"node {name!r} is not in the store", severity="error")
            return
        self.call_from_thread(self.push_screen, NodeScreen(found[0]["cluster"].name, name))

    def _tick(self) -> None:
        screen = self.screen
        if isinstance(screen, FleetScreen):
            screen.action_refresh()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The one place that refuses cluster changes without --write (None: shown dimmed)."""
        if action in WRITE_ACTIONS and not self.write:
            return None
        return True

    def read(
        self,
        where: str | None,
        sort_column: str = "name",
        columns: list[str] | None = None,
        *,
        fleet: bool = True,
        descending: bool = False,
    ) -> Snapshot:
        """The fleet view's data from the store, prepared (called in a worker thread).

        With ``fleet`` False (a new filter), only the filtered nodes are read: the totals, the
        matrix and the kernels describe the whole fleet and stay as they were.
        """
        from store.query.reading import read_nodes

        now = self.clock()
        try:
            everything = read_nodes(self.store, where=None, selector=None, now=now) if fleet or not where else None
            shown = read_nodes(self.store, where=where, selector=None, now=now) if where else everything
        except FleetctlError as exc:
            error = f"{exc.message}" + (f"  ({exc.hint})" if exc.hint else "")
            return Snapshot({}, {}, None, None, [], 0, None, error=error)
        assert shown is not None
        snap = prepare(
            everything.items if everything else None,
            shown.items,
            sort_column,
            columns or [k for k, _ in COLUMNS],
            descending=descending,
        )
        snap.oldest = (everything or shown).oldest()
        return snap

    def runs(self) -> list[dict[str, str]]:
        """The runs table (called in a worker thread)."""
        from fleetctl.tui.upgrades import run_rows
        from store.runs import list_runs, run_progress

        return run_rows(list_runs(self.store), run_progress(self.store), self.clock())

    def read_upgrade_run(self, run_id: int) -> RunView:
        """One run with its waves and steps (called in a worker thread)."""
        from store.runs import read_run

        return read_run(self.store, run_id)

    def act(self, run_id: int, what: str) -> str:
        """Pause, resume, abort or roll back a run (called in a worker thread, after check_action)."""
        from store.errors import BadInputError
        from upgrades.controls import request_abort, request_pause
        from upgrades.launch import create_rollback

        if not self.write:  # check_action already dims the keys; this is the same rule, for any caller
            raise BadInputError("the dashboard is read-only", where="fleetctl tui", hint="start it with --write")
        if what == "pause":
            return f"run {run_id}: {request_pause(self.store, run_id).state}"
        if what == "abort":
            done = request_abort(self.store, run_id)
            if done.live or self.executor is None:
                return f"run {run_id}: {done.state}"
            return f"run {run_id}: {self.executor(run_id)}"
        if self.executor is None:
            raise BadInputError(
                "this dashboard cannot execute runs",
                where="fleetctl tui",
                hint=f"run: fleetctl upgrade {what} {run_id}",
            )
        if what == "resume":  # fleetctl.services.resume_run, as `fleetctl upgrade resume` does it
            return f"run {run_id}: {self.executor(run_id, resume=True)}"
        if what == "rollback":
            rollback_id = create_rollback(self.store, run_id)
            return f"run {rollback_id} (rollback of {run_id}): {self.executor(rollback_id)}"
        raise BadInputError(f"unknown action {what!r}", where="fleetctl tui", hint="p, r, a or b")

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
        lines.append("\n[b]recent events[/] (newest first)")
        for ev in n["events"][:10]:
            lines.append(
                f"  {ev.at:%Y-%m-%d %H:%M}  {ev.type:<7} {escape(ev.reason)}  {escape(ev.object)}: {escape(ev.message[:100])}"
            )
        if not n["events"]:
            lines.append("  none")
        step = n["step"]
        lines.append("\n[b]upgrade[/]")
        lines.append(f"  run {step.run_id}: {step.step} ({step.state}) {escape(step.message)}" if step else "  none")
        return "\n".join(lines)
