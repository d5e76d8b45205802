"""The dashboard's upgrades views: the runs, and one run live (waves, nodes, gates, budget, ETA).

``p`` pause, ``r`` resume, ``a`` abort and ``b`` rollback each ask for confirmation, and each is
allowed only when the dashboard was started with ``--write`` (``FleetApp.check_action``).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import ClassVar

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Label, ProgressBar, Static

from fleetctl.tui.data import dashboard, refresh_every, run_list
from fleetctl.tui.model import NONE, age
from fleetctl.tui.widgets.cells import cell
from store.errors import FleetctlError
from store.runs import RunView, read_run, shown_state
from store.states import FINISHED_STEPS, Step, StepState
from upgrades.rundoc import RunPlan

RUN_COLUMNS = (("run", "RUN"), ("name", "NAME"), ("kind", "KIND"), ("target", "TARGET"), ("state", "STATE"),
               ("progress", "DONE"), ("failed", "FAILED"), ("age", "AGE"))  # fmt: skip
STEP_COLUMNS = (("name", "NAME"), ("cluster", "CLUSTER"), ("wave", "WAVE"), ("step", "STEP"), ("state", "STATE"),
                ("message", "MESSAGE"))  # fmt: skip


class Confirm(ModalScreen[bool]):
    """A yes/no question; y and n answer it too."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question)
            with Horizontal():
                yield Button("Yes (y)", variant="warning", id="yes")
                yield Button("No (n)", id="no")

    def action_answer(self, yes: bool) -> None:
        """Close with the answer."""
        self.dismiss(yes)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class UpgradesScreen(Screen[None]):
    """Every run, newest first."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "refresh", "Refresh"),
        Binding("q", "app.quit", "Quit"),
    ]

    def compose(self) -> ComposeResult:
        yield Static("[b]upgrade runs[/]  (enter: open a run)", id="title")
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#runs", DataTable)
        for key, label in RUN_COLUMNS:
            table.add_column(label, key=key)
        self.action_refresh()
        if every := refresh_every(dashboard(self)):  # every view refreshes itself (0: never)
            self.set_interval(every, self.action_refresh)

    def action_refresh(self) -> None:
        """Read the runs again."""
        self._load()

    @work(thread=True, exclusive=True, group="runs")
    def _load(self) -> None:
        app = dashboard(self)
        rows = run_list(app.store, app.clock())
        self.app.call_from_thread(self._show, rows)

    def _show(self, rows: list[dict[str, str]]) -> None:
        table = self.query_one("#runs", DataTable)
        present = [str(k.value) for k in table.rows]
        if present == [r["run"] for r in rows]:  # the same runs: update the cells in place
            for row in rows:
                for key, _ in RUN_COLUMNS:
                    table.update_cell(row["run"], key, cell(key, row[key]), update_width=True)
        else:  # a new run (or one gone): the rows again, newest first, the cursor kept on its run
            selected = present[table.cursor_row] if present and 0 <= table.cursor_row < len(present) else None
            table.clear()
            for row in rows:
                table.add_row(*(cell(k, row[k]) for k, _ in RUN_COLUMNS), key=row["run"])
            if selected in [r["run"] for r in rows]:
                table.move_cursor(row=[r["run"] for r in rows].index(selected))
        if not rows:
            self.query_one("#title", Static).update(
                "[b]upgrade runs[/]  none yet: plan one with fleetctl upgrade plan FILE"
            )

    @on(DataTable.RowSelected, "#runs")
    def _open(self, event: DataTable.RowSelected) -> None:
        self.app.push_screen(RunScreen(int(str(event.row_key.value))))


@dataclass
class RunPicture:
    """One run as the run view shows it, prepared in a worker thread."""

    view: RunView
    waves: list[tuple[int, str, int, int, int, str]]  # number, state, done, failed, size, gate
    steps: list[dict[str, str]]
    gates: list[str] = field(default_factory=list)
    budget: str = ""
    eta: str = ""


def picture(view: RunView) -> RunPicture:
    """Waves as counts, the nodes that are not pending, the gates' measurements, the budget and an ETA."""
    waves = []
    for w in view.waves:
        steps = view.wave_steps(w.number)
        done = sum(1 for s in steps if s.state in (StepState.DONE, StepState.SKIPPED))
        failed = sum(1 for s in steps if s.state == StepState.FAILED)
        waves.append((w.number, w.state, done, failed, w.size, w.gate_state or NONE))
    busy = [s for s in view.steps if not (s.state == StepState.PENDING and s.step == Step.CLAIM)]
    rows = [
        {"name": s.node, "cluster": s.cluster, "wave": str(s.wave), "step": s.step, "state": s.state, "message": s.message or NONE}
        for s in busy
    ]  # fmt: skip
    gates = []
    for w in view.waves:
        for g in w.gate_results or []:
            values = [m.get("values") for m in g.get("measurements", [])]
            last = values[-1] if values else None
            gates.append(f"wave {w.number} {g.get('name')}: {g.get('state')} ({g.get('message', '')}) last {last}")
    plan = RunPlan.parse(view.run.plan)
    failed = sum(1 for s in view.steps if s.state == StepState.FAILED)
    budget = f"failures {failed} of {plan.run_budget} allowed in the run"
    spans = [sum((s.facts.get("seconds") or {}).values()) for s in view.steps if s.state == StepState.DONE]
    left = sum(1 for s in view.steps if s.state not in FINISHED_STEPS)
    per_node = statistics.median(spans) if spans else plan.estimate_seconds / max(1, len(view.steps))
    parallel = max(1, plan.max_unavailable)
    eta = f"ETA {age(math.ceil(left / parallel) * per_node)}" if left and per_node else ("done" if not left else NONE)
    return RunPicture(view, waves, rows, gates, budget, eta)


class RunScreen(Screen[None]):
    """One run, live: waves as progress bars, each node's state, gate results, budget and ETA."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("p", "pause_run", "Pause"),
        Binding("r", "resume_run", "Resume"),
        Binding("a", "abort_run", "Abort"),
        Binding("b", "rollback_run", "Rollback"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, run_id: int) -> None:
        super().__init__()
        self.run_id = run_id
        self.bars: dict[int, ProgressBar] = {}
        self.picture: RunPicture | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="summary")
        yield VerticalScroll(id="waves")
        yield Static(id="gates")
        yield DataTable(id="steps", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#steps", DataTable)
        for key, label in STEP_COLUMNS:
            table.add_column(label, key=key)
        self.action_refresh()
        if every := refresh_every(dashboard(self)):  # every view refreshes itself (0: never)
            self.set_interval(every, self.action_refresh)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Write actions follow the app's one rule (``FleetApp.check_action``)."""
        return self.app.check_action(action, parameters)

    def action_refresh(self) -> None:
        """Read the run again."""
        self._load()

    @work(thread=True, exclusive=True, group="run")
    def _load(self) -> None:
        try:
            pic = picture(read_run(dashboard(self).store, self.run_id))
        except FleetctlError as exc:
            self.app.call_from_thread(self.query_one("#summary", Static).update, f"[b red]{escape(exc.message)}[/]")
            return
        self.app.call_from_thread(self._show, pic)

    def _show(self, pic: RunPicture) -> None:
        self.picture = pic
        r = pic.view.run
        message = f": {escape(r.message)}" if r.message else ""
        self.query_one("#summary", Static).update(
            f"[b]run {r.id}[/] {escape(r.name)} ({r.kind}) to {escape(r.target_version)}  [b]{shown_state(r)}[/]{message}\n"
            f"{pic.budget}  |  {pic.eta}"
            + ("" if dashboard(self).write else "  |  read-only (start with --write to act)")
        )
        waves = self.query_one("#waves", VerticalScroll)
        for number, state, done, failed, size, gate in pic.waves:
            label = f"wave {number}: {state}, {done}/{size} done, {failed} failed, gate {gate}"
            if number not in self.bars:
                bar = ProgressBar(total=size, show_eta=False, id=f"wave-{number}")
                self.bars[number] = bar
                waves.mount(Horizontal(Label(label, id=f"wave-label-{number}"), bar, classes="wave"))
            else:
                self.query_one(f"#wave-label-{number}", Label).update(label)
            self.bars[number].update(total=size, progress=done + failed)
        self.query_one("#gates", Static).update("\n".join(escape(g) for g in pic.gates[-6:]) or "no gate results yet")
        table = self.query_one("#steps", DataTable)
        present = {str(k.value) for k in table.rows}
        for row in pic.steps:
            key = f"{row['cluster']}/{row['name']}"
            if key in present:
                for column, _ in STEP_COLUMNS:
                    table.update_cell(key, column, cell(column, row[column]), update_width=True)
            else:
                table.add_row(*(cell(c, row[c]) for c, _ in STEP_COLUMNS), key=key)

    # --- actions: each confirmed, each allowed only with --write -------------------------------

    def action_pause_run(self) -> None:
        """Pause: no new node starts; nodes in flight finish."""
        self._confirm(f"Pause run {self.run_id}? Nodes in flight finish.", "pause")

    def action_resume_run(self) -> None:
        """Resume a paused run (this dashboard executes it)."""
        self._confirm(f"Resume run {self.run_id} from this dashboard?", "resume")

    def action_abort_run(self) -> None:
        """Abort: nodes in flight finish and are uncordoned; no other node starts."""
        self._confirm(f"Abort run {self.run_id}? This cannot be resumed.", "abort")

    def action_rollback_run(self) -> None:
        """Roll the run's changed nodes back to their previous release."""
        self._confirm(f"Roll back run {self.run_id}? Changed nodes go back to their previous release.", "rollback")

    def _confirm(self, question: str, what: str) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self._act(what)

        self.app.push_screen(Confirm(question), answered)

    @work(thread=True, group="act")
    def _act(self, what: str) -> None:
        app = dashboard(self)
        try:
            note = app.act(self.run_id, what)
        except FleetctlError as exc:
            self.app.call_from_thread(
                self.notify, f"{exc.message}" + (f" ({exc.hint})" if exc.hint else ""), severity="error"
            )
            return
        self.app.call_from_thread(self.notify, note)
        self.app.call_from_thread(self.action_refresh)
