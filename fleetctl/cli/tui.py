"""``fleetctl tui``: the dashboard (also what ``fleetctl`` alone opens on a terminal)."""

from __future__ import annotations

import threading
from typing import Annotated

import typer

from fleetctl.console import err
from fleetctl.settings import Settings
from store.durations import parse_duration


def tui(
    ctx: typer.Context,
    refresh: Annotated[str, typer.Option("--refresh", help="How often to re-read the store (0: never).")] = "5s",
    write: Annotated[
        bool, typer.Option("--write", help="Allow actions that change a cluster (pause, resume, abort, rollback).")
    ] = False,
) -> None:
    """The fleet dashboard: totals, the release x arch matrix, kernels, and every node, live from the store."""
    from fleetctl.services import executor_for
    from fleetctl.tui.app import FleetApp
    from store.migrate import open_store

    settings: Settings = ctx.obj
    seconds = parse_duration(refresh, where="--refresh").total_seconds() if refresh not in ("0", "0s") else 0.0
    interrupt = threading.Event()  # set on quit: a run executed here stops at its next step boundary
    with open_store(settings.db, create=False) as store:
        executor = executor_for(store, settings, interrupt=interrupt) if write else None
        app = FleetApp(store, refresh_s=seconds, write=write, executor=executor, interrupt=interrupt)
        try:
            app.run()
        finally:
            app.wait_for_runs(err)  # the screen is restored: say what is still stopping, and wait
