"""``fleetctl tui``: the dashboard (also what ``fleetctl`` alone opens on a terminal)."""

from __future__ import annotations

from typing import Annotated

import typer

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
    with open_store(settings.db, create=False) as store:
        FleetApp(store, refresh_s=seconds, write=write, executor=executor_for(store, settings) if write else None).run()
