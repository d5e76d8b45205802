"""``fleetctl tui``: the fleet dashboard in Textual, read from the store (so it works offline).

The app itself: its keys (``?``, ``:``, ``g``), the one write rule, and the actions. What the views
show is read in ``tui.data``; the views are in ``tui.screens``, the node table in ``tui.widgets``.

Reads run in worker threads, each a short read transaction; the table is updated by key
(rows added, removed or changed), never cleared and refilled. Actions that change a cluster
work only when the app was started with ``--write``; ``check_action`` is the one place that
enforces it, so a key that cannot run shows dimmed in the footer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType

from fleetctl.tui.data import Snapshot
from fleetctl.tui.screens.fleet import FleetScreen
from fleetctl.tui.screens.node import NodeScreen
from store.engine import Store

if TYPE_CHECKING:
    from fleetctl.services import RunExecutor

__all__ = ["FleetApp", "FleetScreen", "NodeScreen", "Snapshot"]  # what callers (tests, benchmarks) import here

WRITE_ACTIONS = frozenset({"pause_run", "resume_run", "abort_run", "rollback_run"})


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
        from fleetctl.tui.screens.help import HelpScreen, keys_of

        if not isinstance(self.screen, HelpScreen):
            view = type(self.screen).__name__.removesuffix("Screen").lower()
            self.push_screen(HelpScreen(view, keys_of(self, self.screen)))

    def action_guide(self) -> None:
        """The demo's guided steps (only a dashboard the demo started has them)."""
        from fleetctl.tui.screens.help import GuideScreen

        if not self.guide:
            self.notify("no guide here: `fleetctl demo` (make demo) starts the dashboard with one", severity="warning")
        elif not isinstance(self.screen, GuideScreen):
            self.push_screen(GuideScreen(self.guide))

    def action_command(self) -> None:
        """A k9s-style command line."""
        from fleetctl.tui.screens.help import CommandLine

        self.push_screen(CommandLine(), lambda text: self.run_command(text) if text is not None else None)

    def run_command(self, text: str) -> None:
        """Go to the view a ``:`` command names; a mistake is a notification saying what to type."""
        from fleetctl.tui.screens.help import CommandError, parse_command
        from fleetctl.tui.screens.releases import ReleasesScreen
        from fleetctl.tui.screens.upgrades import UpgradesScreen

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
        self.call_from_thread(self.push_screen, NodeScreen(found[0].cluster, name))

    def _tick(self) -> None:
        screen = self.screen
        if isinstance(screen, FleetScreen):
            screen.action_refresh()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The one place that refuses cluster changes without --write (None: shown dimmed)."""
        if action in WRITE_ACTIONS and not self.write:
            return None
        return True

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
