"""An APScheduler trigger that fires when a maintenance window opens."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from apscheduler.triggers.base import BaseTrigger

from upgrades.window import Window, next_opening


class WindowTrigger(BaseTrigger):  # type: ignore[misc]
    """Fires at each opening of ``window`` (exclusions skipped). Picklable for the job store."""

    def __init__(self, window: Window) -> None:
        self.window = window

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        after = previous_fire_time if previous_fire_time is not None else now - timedelta(microseconds=1)
        return next_opening(self.window, after)

    def __getstate__(self) -> dict[str, Any]:
        return {"version": 1, "window": self.window}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.window = state["window"]

    def __str__(self) -> str:
        return f"window[{self.window.schedule!r} for {self.window.duration_s:g}s, {self.window.timezone}]"
