"""Helpers of the dashboard tests: a clock past the fleet's collection, and waiting for the app's workers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fleetctl.tui.app import FleetApp


def later() -> datetime:
    """Three minutes from now: what the app's clock says, so the collected data reads as a little old."""
    return datetime.now(UTC) + timedelta(minutes=3)


async def settle(app: FleetApp) -> None:
    """Wait until the app's workers are done, and those they started (a refresh starts a load)."""
    await app.workers.wait_for_complete()
    for _ in range(3):
        await app.workers.wait_for_complete()
