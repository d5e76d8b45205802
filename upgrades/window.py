"""Maintenance windows: a cron schedule that opens the window, a duration, and a time zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from upgrades.planfile import Window


def _trigger(window: Window) -> CronTrigger:
    return CronTrigger.from_crontab(window.schedule, timezone=ZoneInfo(window.timezone))


def validate_window(window: Window) -> tuple[str, str, str] | None:
    """(field, problem, hint) for a window that cannot work, else None."""
    try:
        ZoneInfo(window.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return "timezone", f"unknown time zone {window.timezone!r}", "use an IANA name such as Europe/Berlin"
    try:
        _trigger(window)
    except ValueError as exc:
        return "schedule", f"{window.schedule!r} is not a cron schedule: {exc}", "five fields, e.g. 0 22 * * 1-5"
    if window.duration_s <= 0:
        return "duration", "must be longer than zero", "e.g. duration: 4h"
    return None


def opening_before(window: Window, now: datetime) -> datetime | None:
    """The latest opening at or before ``now`` within one duration, i.e. the open window's start."""
    trigger = _trigger(window)
    start: datetime | None = trigger.get_next_fire_time(None, now - timedelta(seconds=window.duration_s))
    return start if start is not None and start <= now else None


def is_open(window: Window | None, now: datetime) -> bool:
    """Whether a node may start now (no window: always)."""
    return window is None or opening_before(window, now) is not None


def next_opening(window: Window, now: datetime) -> datetime | None:
    """The next time the window opens after ``now``."""
    nxt: datetime | None = _trigger(window).get_next_fire_time(None, now + timedelta(microseconds=1))
    return nxt
