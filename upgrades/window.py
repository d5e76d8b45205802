"""Maintenance windows: when a window opens (cron or RRULE), how long it stays open, in which
time zone, and which dates it skips.

Every instant this module returns is in UTC, so comparing two of them never trips over a
wall clock that repeats or skips an hour. The rules at a daylight-saving change:

- An opening at a wall time that does not exist that day (spring forward: 02:30 in Berlin on
  the last Sunday of March) happens at the instant that wall time would have been in the old
  offset: 01:30 UTC, which the clocks show as 03:30.
- An opening at a wall time that happens twice (fall back) opens at the first of the two.
- The duration is elapsed time: a 4h window is open four hours, whatever the clocks do.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from dateutil.rrule import rrule, rrulestr

from upgrades.clock import SYSTEM_CLOCK, Clock


@dataclass(frozen=True)
class Window:
    """A maintenance window: opens on a cron or RRULE schedule, stays open ``duration_s``, and
    skips the openings that fall on an excluded date (inclusive ranges, in its time zone)."""

    schedule: str
    duration_s: float
    timezone: str = "UTC"
    exclude: tuple[tuple[date, date], ...] = ()


RRULE_ANCHOR = datetime(2000, 1, 3)  # a Monday at midnight: where a rule without DTSTART counts from
_SUB_DAILY = re.compile(r"FREQ=(HOURLY|MINUTELY|SECONDLY)", re.IGNORECASE)
MAX_SCAN = 100_000  # openings looked at before giving up on finding one outside the exclusions


def is_rrule(schedule: str) -> bool:
    """Whether a schedule is written as an RFC 5545 RRULE rather than as cron."""
    text = schedule.strip().upper()
    return text.startswith(("RRULE:", "FREQ=", "DTSTART"))


def parse_exclusion(text: str) -> tuple[date, date]:
    """``2026-12-24`` or ``2026-12-24..2026-12-26`` (inclusive) as a pair of dates."""
    first, sep, last = text.strip().partition("..")
    try:
        start = date.fromisoformat(first.strip())
        end = date.fromisoformat(last.strip()) if sep else start
    except ValueError:
        raise ValueError(f"{text!r} is not a date or a date range (YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD)") from None
    if end < start:
        raise ValueError(f"the date range {text!r} ends before it starts")
    return start, end


def validate_window(window: Window, clock: Clock = SYSTEM_CLOCK) -> tuple[str, str, str] | None:
    """(field, problem, hint) for a window that cannot work (an RRULE that never opens again
    after ``clock.now()``), else None."""
    try:
        ZoneInfo(window.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return "timezone", f"unknown time zone {window.timezone!r}", "use an IANA name such as Europe/Berlin"
    if window.duration_s <= 0:
        return "duration", "must be longer than zero", "e.g. duration: 4h"
    if is_rrule(window.schedule):
        try:
            rule = _rrule(window)
        except (ValueError, TypeError) as exc:
            return "schedule", f"{window.schedule!r} is not an RRULE: {exc}", "e.g. FREQ=WEEKLY;BYDAY=SA;BYHOUR=1"
        if _SUB_DAILY.search(window.schedule) and "DTSTART" not in window.schedule.upper():
            return (
                "schedule",
                "an HOURLY, MINUTELY or SECONDLY rule needs a DTSTART: its INTERVAL counts from there",
                "e.g. DTSTART:20261201T000000\\nRRULE:FREQ=HOURLY;INTERVAL=6",
            )
        if rule.after(clock.now().astimezone(ZoneInfo(window.timezone))) is None:
            return "schedule", f"{window.schedule!r} never opens again", "check UNTIL and COUNT"
        return None
    try:
        _cron(window)
    except ValueError as exc:
        return "schedule", f"{window.schedule!r} is not a cron schedule: {exc}", "five fields, e.g. 0 22 * * 1-5"
    return None


def _cron(window: Window) -> CronTrigger:
    fields = window.schedule.split()
    if len(fields) != 5:
        raise ValueError(f"wrong number of fields; got {len(fields)}, expected 5")
    minute, hour, day, month, weekday = fields
    return CronTrigger(
        minute=minute, hour=hour, day=day, month=month, day_of_week=_weekdays(weekday),
        timezone=ZoneInfo(window.timezone),
    )  # fmt: skip


_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _weekdays(field: str) -> str:
    """A cron day-of-week field (0 or 7 is Sunday) as APScheduler day names: APScheduler's own
    numbers start at Monday, so ``1-5`` would otherwise mean Tuesday to Saturday."""
    if field == "*":
        return field
    days: set[int] = set()
    for token in field.lower().split(","):
        base, _, step = token.partition("/")
        low, dash, high = base.partition("-")
        first = 0 if low == "*" else _day(low)
        last = 6 if low == "*" else _day(high) if dash else (6 if step else first)
        if last < first and not (dash and high.strip() in ("7", "sun")):
            raise ValueError(f"day-of-week range {base!r} runs backwards")
        last = 7 if last < first else last
        days.update(d % 7 for d in range(first, last + 1, int(step) if step.isdigit() and int(step) > 0 else 1))
    return ",".join(_DAYS[d] for d in sorted(days))


def _day(token: str) -> int:
    token = token.strip()
    if token.isdigit() and int(token) <= 7:
        return int(token) % 7 if token != "7" else 0
    if token[:3] in _DAYS:
        return _DAYS.index(token[:3])
    raise ValueError(f"{token!r} is not a day of the week (0-7 or sun-sat)")


def _rrule(window: Window) -> rrule:
    zone = ZoneInfo(window.timezone)
    start = RRULE_ANCHOR.replace(tzinfo=zone)
    rules = []
    for line in window.schedule.strip().replace("\\n", "\n").splitlines():
        name, _, value = line.strip().partition(":")
        if name.upper().startswith("DTSTART"):
            start = _dtstart(name, value, zone)
        elif line.strip():
            rules.append(line.strip())
    if len(rules) != 1:
        raise ValueError("give one RRULE (with an optional DTSTART line)")
    rule = rrulestr(rules[0], dtstart=start)
    if not isinstance(rule, rrule):
        raise ValueError("give one RRULE, not a set")
    return rule


def _dtstart(name: str, value: str, zone: ZoneInfo) -> datetime:
    """``DTSTART:20261201T010000`` (wall time in the window's zone), ``...Z`` (UTC) or
    ``DTSTART;TZID=Europe/Berlin:...``."""
    value = value.strip()
    tzid = name.partition(";TZID=")[2]
    try:
        moment = datetime.strptime(value.rstrip("Zz"), "%Y%m%dT%H%M%S")
        zone = UTC if value.upper().endswith("Z") else ZoneInfo(tzid) if tzid else zone  # type: ignore[assignment]
    except (ValueError, ZoneInfoNotFoundError):
        raise ValueError(f"DTSTART {value!r} is not YYYYMMDDTHHMMSS[Z] with a known TZID") from None
    return moment.replace(tzinfo=zone)


def _fires_after(window: Window, after: datetime) -> Iterator[datetime]:
    """Openings strictly after ``after``, exclusions included, in UTC."""
    zone = ZoneInfo(window.timezone)
    moment = after.astimezone(zone)
    rule = _rrule(window) if is_rrule(window.schedule) else None
    trigger = None if rule else _cron(window)
    while True:
        if rule is not None:
            fire = rule.after(moment, inc=False)
        else:
            assert trigger is not None
            fire = trigger.get_next_fire_time(None, moment)
        if fire is None:
            return
        moment = (fire.astimezone(UTC) + timedelta(microseconds=1)).astimezone(zone)  # on by instant, not wall time
        first = fire.replace(fold=0).astimezone(UTC)
        if first == fire.astimezone(UTC):  # fall back: a wall time that repeats opens once, at its first instant
            yield first


def _excluded(window: Window, fire: datetime) -> bool:
    day = fire.astimezone(ZoneInfo(window.timezone)).date()
    return any(start <= day <= end for start, end in window.exclude)


def current(window: Window, now: datetime) -> tuple[datetime, datetime] | None:
    """The opening ``now`` falls in, as (opens, closes) in UTC, or None when the window is shut."""
    length = timedelta(seconds=window.duration_s)
    found = None
    for scanned, fire in enumerate(_fires_after(window, now - length - timedelta(microseconds=1))):
        if fire > now or scanned > MAX_SCAN:
            break
        if not _excluded(window, fire) and now < fire + length:
            found = found or (fire, fire + length)  # the earliest opening still open
    return found


def is_open(window: Window | None, now: datetime) -> bool:
    """Whether a node may start now (no window: always)."""
    return window is None or current(window, now) is not None


def openings(window: Window, now: datetime, count: int) -> list[tuple[datetime, datetime]]:
    """The next ``count`` openings after ``now`` (exclusions skipped), as (opens, closes) in UTC."""
    length = timedelta(seconds=window.duration_s)
    out: list[tuple[datetime, datetime]] = []
    for scanned, fire in enumerate(_fires_after(window, now)):
        if len(out) >= count or scanned > MAX_SCAN:
            break
        if not _excluded(window, fire):
            out.append((fire, fire + length))
    return out


def next_opening(window: Window, now: datetime) -> datetime | None:
    """The next time the window opens after ``now``."""
    found = openings(window, now, 1)
    return found[0][0] if found else None
