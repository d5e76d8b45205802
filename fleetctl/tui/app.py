"""``fleetctl tui``: the fleet dashboard in Textual, read from the store (so it works offline).

The app itself: its keys (``?``, ``:``, ``g``), the one write rule, and the actions. What the views
show is read in ``tui.data``; the views are in ``tui.screens``, the node table in ``tui.widgets``.

Reads run in worker threads, each a short read transaction; the table is updated by key
(rows added, removed or changed), never cleared and refilled. Actions that change a cluster
work only when the app was started with ``--write``; ``check_action`` is the one place that
enforces it, so a key that cannot run shows dimmed in the footer.

A run the dashboard executes (resume, rollback) runs in a daemon thread of the app's own, not a
Textual worker, whose thread ``asyncio.run`` would wait for: quitting sets ``interrupt`` (the
executor stops at its next step boundary, as on Ctrl-C in ``fleetctl upgrade apply``) and the
screen is restored at once; the caller then says so and waits (``wait_for_runs``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType

from fleetctl.tui.data import Snapshot
from fleetctl.tui.screens.fleet import FleetScreen
from fleetctl.tui.screens.node import NodeScreen
from store.engine import Store
from store.errors import FleetctlError

if TYPE_CHECKING:
    from fleetctl.services import RunExecutor
    from store.states import Outcome

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
        interrupt: threading.Event | None = None,
    ) -> None:
        super().__init__()
        self.store, self.refresh_s, self.write, self.clock = store, refresh_s, write, clock
        self.executor = executor  # runs a run to its end in the calling thread (resume, rollback)
        self.guide = guide  # the demo's guided steps: shown first, reopened with g
        # Set on quit: the executor's options.interrupt (executor_for(..., interrupt=)), so a run this
        # dashboard executes stops at its next step boundary, resumable.
        self.interrupt = interrupt if interrupt is not None else threading.Event()
        self._executing: dict[int, threading.Thread] = {}  # run id -> the daemon thread executing it
        self._outcomes: dict[int, Outcome | str] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ui_context: contextvars.Context | None = None

    def on_mount(self) -> None:
        self._loop, self._ui_context = asyncio.get_running_loop(), contextvars.copy_context()
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
            self.quit()
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

    # --- quitting: at once, the runs this dashboard executes stopped at a step boundary ----------

    async def action_quit(self) -> None:
        """Quit at once (q, ctrl+q, ctrl+c): runs executed here stop at their next step boundary."""
        self.quit()

    def quit(self) -> None:
        """Set the interrupt and exit; nothing waits for the executor (``wait_for_runs`` does, after)."""
        self.interrupt.set()
        self.exit()

    def on_unmount(self) -> None:
        self.interrupt.set()  # whatever ended the app (an error too): no run goes on without its screen

    def executing(self) -> list[int]:
        """The runs this dashboard is executing now."""
        with self._lock:
            return sorted(run for run, thread in self._executing.items() if thread.is_alive())

    def wait_for_runs(self, say: Callable[[str], None]) -> None:
        """After the screen is restored: say which runs are still stopping, and wait for each."""
        for run_id in self.executing():
            say(
                f"waiting for run {run_id} to stop at its step boundary (resume with: fleetctl upgrade resume {run_id})"
            )
            with self._lock:
                thread = self._executing.get(run_id)
            if thread is not None:
                thread.join()
            if self._outcomes.get(run_id) == "interrupted":
                say(f"run {run_id} interrupted; resume with: fleetctl upgrade resume {run_id}")
            elif run_id in self._outcomes:
                say(f"run {run_id}: {self._outcomes[run_id]}")

    def _execute(self, run_id: int, label: str, *, resume: bool = False) -> str:
        """Execute the run in a daemon thread of the app's own; what was started, in a line."""
        executor = self.executor
        assert executor is not None

        def work() -> None:
            try:
                outcome: Outcome | str = executor(run_id, resume=resume)
                note, severity = f"{label}: {outcome}", "information"
            except FleetctlError as exc:
                outcome = note = f"{exc.message}" + (f" ({exc.hint})" if exc.hint else "")
                severity = "error"
            except Exception as exc:  # noqa: BLE001 - a bug: the app shows it as it shows a worker's
                self._outcomes[run_id] = "failed"
                self._from_thread(self._handle_exception, exc)
                return
            finally:
                with self._lock:
                    self._executing.pop(run_id, None)
            self._outcomes[run_id] = outcome
            self._from_thread(self.notify, note, severity=severity)
            self._from_thread(self._refresh_screen)

        thread = threading.Thread(target=work, name=f"fleetctl-tui-run-{run_id}", daemon=True)
        with self._lock:
            self._executing[run_id] = thread
            thread.start()
        return f"{label}: executing here (q stops it at the next step boundary)"

    def _from_thread(self, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Call back on the UI thread without waiting (``call_from_thread`` would block forever on
        an app that is shutting down); nothing once the app has quit."""
        loop, context = self._loop, self._ui_context
        if loop is None or context is None or self.interrupt.is_set() or not self.is_running:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(partial(callback, *args, **kwargs), context=context)

    def _refresh_screen(self) -> None:
        refresh = getattr(self.screen, "action_refresh", None)
        if callable(refresh):
            refresh()

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
        """Pause, resume, abort or roll back a run (called in a worker thread, after check_action); a
        run to execute is started in the app's own thread (``_execute``), this returns at once."""
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
            return self._execute(run_id, f"run {run_id}")
        if self.executor is None:
            raise BadInputError(
                "this dashboard cannot execute runs",
                where="fleetctl tui",
                hint=f"run: fleetctl upgrade {what} {run_id}",
            )
        if what == "resume":  # fleetctl.services.resume_run, as `fleetctl upgrade resume` does it
            return self._execute(run_id, f"run {run_id}", resume=True)
        if what == "rollback":
            rollback_id = create_rollback(self.store, run_id)
            return self._execute(rollback_id, f"run {rollback_id} (rollback of {run_id})")
        raise BadInputError(f"unknown action {what!r}", where="fleetctl tui", hint="p, r, a or b")
