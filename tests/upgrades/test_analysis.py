"""Gate analysis and maintenance windows: pure logic."""

from __future__ import annotations

from datetime import UTC, datetime

from upgrades.analysis import (
    ERROR,
    FAILED,
    FAILURE,
    INCONCLUSIVE,
    PASSED,
    RUNNING,
    SUCCESS,
    CheckRule,
    measure,
    render_query,
    verdict,
)
from upgrades.window import Window, is_open, next_opening


def rule(**kw: object) -> CheckRule:
    base: dict[str, object] = {
        "success": "value < 1",
        "failure": None,
        "count": 3,
        "failure_limit": 0,
        "consecutive_error_limit": 1,
        "no_data": "fail",
    }
    base.update(kw)
    return CheckRule(**base)  # type: ignore[arg-type]


def test_measurements_follow_the_conditions_and_the_no_data_policy() -> None:
    assert measure(rule(), [0.1, 0.5]).outcome == SUCCESS
    assert measure(rule(), [0.1, 2.0]).outcome == FAILURE
    assert measure(rule(failure="value > 5", success=None), [4.0]).outcome == SUCCESS
    assert measure(rule(failure="value > 5"), [0.5, 6]).outcome == FAILURE
    assert measure(rule(), []).outcome == FAILURE  # fail closed by default
    assert measure(rule(no_data="pass"), []).outcome == SUCCESS
    assert measure(rule(no_data="inconclusive"), []).outcome == INCONCLUSIVE
    assert measure(rule(), "503 Service Unavailable").outcome == ERROR


def test_verdicts_count_failures_errors_and_measurements() -> None:
    ok, bad, err = measure(rule(), [0.0]), measure(rule(), [9.0]), measure(rule(), "timeout")
    assert verdict(rule(), [ok, ok])[0] == RUNNING
    assert verdict(rule(), [ok, ok, ok])[0] == PASSED
    assert verdict(rule(), [ok, bad])[0] == FAILED
    assert verdict(rule(failure_limit=1), [ok, bad, ok])[0] == PASSED
    assert verdict(rule(), [ok, err])[0] == RUNNING
    state, why = verdict(rule(), [ok, err, err])
    assert state == FAILED and "consecutiveErrorLimit" in why
    assert verdict(rule(no_data="inconclusive"), [measure(rule(no_data="inconclusive"), [])])[0] == INCONCLUSIVE


def test_node_lists_are_escaped_into_the_query() -> None:
    q = render_query(
        'max(x{node=~"{{nodes}}"}) and y{node=~"{{wave_nodes}}"}', nodes=["a.b", 'c"}or'], wave_nodes=[], target="4.1.0"
    )
    assert 'a\\\\.b|c\\\\"\\\\}or' in q and 'node=~"$^"' in q


def test_windows_open_close_and_cross_time_zones() -> None:
    w = Window("0 22 * * *", 4 * 3600, "Europe/Berlin")  # 22:00-02:00 Berlin = 21:00-01:00 UTC in winter
    assert is_open(w, datetime(2026, 11, 26, 21, 30, tzinfo=UTC))
    assert is_open(w, datetime(2026, 11, 27, 0, 59, tzinfo=UTC))
    assert not is_open(w, datetime(2026, 11, 27, 1, 1, tzinfo=UTC))
    assert next_opening(w, datetime(2026, 11, 27, 1, 1, tzinfo=UTC)) == datetime(2026, 11, 27, 21, 0, tzinfo=UTC)
    summer = next_opening(w, datetime(2026, 7, 1, 12, 0, tzinfo=UTC))
    assert summer == datetime(2026, 7, 1, 20, 0, tzinfo=UTC)
    assert is_open(None, datetime(2026, 1, 1, tzinfo=UTC))
