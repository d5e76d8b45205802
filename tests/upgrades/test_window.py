"""Maintenance windows with a fixed clock: time zones, daylight-saving changes, exclusions, RRULEs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from upgrades.window import Window, current, is_open, openings, parse_exclusion, validate_window


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_a_window_spans_midnight_in_its_own_time_zone() -> None:
    w = Window("0 22 * * 1-5", 4 * 3600, "Europe/Berlin")  # weeknights 22:00-02:00 Berlin
    assert current(w, utc(2026, 11, 26, 23, 30)) == (utc(2026, 11, 26, 21), utc(2026, 11, 27, 1))
    assert not is_open(w, utc(2026, 11, 27, 1, 0))  # closes at 02:00 Berlin exactly
    assert not is_open(w, utc(2026, 11, 28, 22))  # Saturday
    tokyo = Window("0 22 * * *", 3600, "Asia/Tokyo")
    assert openings(tokyo, utc(2026, 11, 26), 1)[0][0] == utc(2026, 11, 26, 13)


def test_spring_forward_opens_at_the_instant_the_old_offset_gives() -> None:
    w = Window("30 2 * * *", 4 * 3600, "Europe/Berlin")  # 02:30 does not exist on 2026-03-29
    (opens, closes), after = openings(w, utc(2026, 3, 28, 12), 2)
    assert opens == utc(2026, 3, 29, 1, 30)  # shown as 03:30 CEST
    assert closes - opens == timedelta(hours=4)  # elapsed time, not wall time
    assert after[0] == utc(2026, 3, 30, 0, 30)  # back to 02:30 local, now CEST


def test_fall_back_opens_once_at_the_first_of_the_two_wall_times() -> None:
    w = Window("30 2 * * *", 3600, "Europe/Berlin")  # 02:30 happens twice on 2026-10-25
    fires = [o for o, _ in openings(w, utc(2026, 10, 24, 12), 3)]
    assert fires == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30), utc(2026, 10, 27, 1, 30)]
    assert is_open(w, utc(2026, 10, 25, 1, 15))  # the second 02:15: the first 02:30's hour is still running
    assert not is_open(w, utc(2026, 10, 25, 1, 31))


def test_excluded_dates_skip_their_openings_in_the_windows_zone() -> None:
    holidays = (parse_exclusion("2026-12-24..2026-12-26"), parse_exclusion("2026-12-31"))
    w = Window("0 23 * * *", 2 * 3600, "Europe/Berlin", exclude=holidays)
    fires = [o for o, _ in openings(w, utc(2026, 12, 22, 12), 6)]
    # 23:00 Berlin is 22:00 UTC; the 24th, 25th, 26th and 31st (Berlin dates) are skipped.
    assert fires == [utc(2026, 12, d, 22) for d in (22, 23, 27, 28, 29, 30)]
    assert not is_open(w, utc(2026, 12, 24, 22, 30))
    assert is_open(w, utc(2026, 12, 23, 22, 30))


def test_a_window_closing_mid_run_stops_new_nodes_at_the_close() -> None:
    w = Window("DTSTART:20261126T220000Z\nRRULE:FREQ=MINUTELY;INTERVAL=10", 240, "UTC")
    assert is_open(w, utc(2026, 11, 26, 22, 3, 59))
    assert not is_open(w, utc(2026, 11, 26, 22, 4))  # nodes in flight finish; no new one starts
    assert current(w, utc(2026, 11, 26, 22, 10, 1)) == (utc(2026, 11, 26, 22, 10), utc(2026, 11, 26, 22, 14))


def test_rrules_with_time_zones_counts_and_anchors() -> None:
    saturday = Window("FREQ=WEEKLY;BYDAY=SA;BYHOUR=1", 4 * 3600, "Europe/Berlin")
    assert [o for o, _ in openings(saturday, utc(2026, 11, 26), 2)] == [utc(2026, 11, 28, 0), utc(2026, 12, 5, 0)]
    berlin_start = Window("DTSTART;TZID=America/New_York:20261101T010000\nRRULE:FREQ=DAILY;COUNT=3", 60, "UTC")
    fires = [o for o, _ in openings(berlin_start, utc(2026, 10, 31), 5)]
    assert fires == [utc(2026, 11, 1, 5), utc(2026, 11, 2, 6), utc(2026, 11, 3, 6)]  # EDT, then EST


@pytest.mark.parametrize(
    ("window", "field", "words"),
    [
        (Window("0 25 * * *", 3600), "schedule", "not a cron schedule"),
        (Window("every night", 3600), "schedule", "not a cron schedule"),
        (Window("FREQ=FORTNIGHTLY", 3600), "schedule", "not an RRULE"),
        (Window("FREQ=MINUTELY;INTERVAL=5", 3600), "schedule", "needs a DTSTART"),
        (Window("DTSTART:2026-12-01\nRRULE:FREQ=DAILY", 3600), "schedule", "DTSTART"),
        (Window("FREQ=DAILY;UNTIL=20200101T000000Z", 3600), "schedule", "never opens again"),
        (Window("0 22 * * *", 3600, "Europe/Berlinn"), "timezone", "unknown time zone"),
        (Window("0 22 * * *", 0), "duration", "longer than zero"),
    ],
)
def test_bad_windows_say_which_field_and_why(window: Window, field: str, words: str) -> None:
    problem = validate_window(window)
    assert problem is not None
    assert problem[0] == field and words in problem[1] and problem[2]


@pytest.mark.parametrize("text", ["2026-13-01", "24.12.2026", "2026-12-26..2026-12-24", ""])
def test_bad_exclusions_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="date"):
        parse_exclusion(text)


def test_exclusion_ranges_are_inclusive() -> None:
    assert parse_exclusion(" 2026-12-24..2026-12-26 ") == (date(2026, 12, 24), date(2026, 12, 26))
