"""The rehearsal's pure parts: time-scaling a plan and its PromQL, mapping releases, build times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fleetctl.rehearsal.fleetcopy import nearest_release
from fleetctl.rehearsal.scaling import scaled_document, scaled_query
from fleetctl.rehearsal.workloads import MIN_BUILD_LEFT_S, _left
from upgrades.planfile import parse_plan


@pytest.mark.parametrize(
    ("query", "scale", "expected"),
    [
        ("rate(x[5m])", 30, "rate(x[10000ms])"),
        ("max_over_time(x[1h30m:1m])", 60, "max_over_time(x[90000ms:1000ms])"),
        ("x offset 10m", 20, "x offset 30000ms"),
        ("rate(x[1m])", 100, "rate(x[4000ms])"),  # never under a few scrapes
        ('x{a="[5m]"}[2m]', 10, 'x{a="[5m]"}[12000ms]'),  # label values are not durations
        ("x[$__range]", 10, "x[$__range]"),  # not a duration: left as written
    ],
)
def test_gate_queries_are_scaled_to_simulated_time(query: str, scale: float, expected: str) -> None:
    assert scaled_query(query, scale) == expected


def test_every_wait_in_the_plan_shrinks_and_the_window_goes() -> None:
    source = {
        "apiVersion": "fleetctl.io/v1",
        "kind": "UpgradePlan",
        "metadata": {"name": "p"},
        "spec": {
            "target": "4.1.0",
            "drain": {"timeout": "10m", "gracePeriod": "30s"},
            "verify": {"smoke": {"runtimeClass": {"amd64": "kata-qemu"}, "timeout": "2m"}},
            "gates": {"soak": "5m", "checks": [{"name": "c", "query": "rate(x[5m])", "successCondition": "value < 1"}]},
            "window": {"schedule": "0 22 * * *", "duration": "4h"},
        },
    }
    spec = parse_plan(source, where="p")
    scaled = parse_plan(scaled_document(spec, 20, gates=True), where="scaled")
    assert scaled.window is None
    assert scaled.drain.timeout_s == pytest.approx(30)
    assert scaled.drain.build_wait_s == pytest.approx(spec.drain.build_wait_s / 20)  # a default, scaled too
    assert scaled.drain.grace_period_s == 30  # the simulator scales what it is sent
    assert scaled.install.timeout_s == pytest.approx(spec.install.timeout_s / 20)
    assert scaled.verify.smoke is not None and scaled.verify.smoke.timeout_s == pytest.approx(6)
    assert scaled.gates.soak_s == pytest.approx(15)
    assert scaled.gates.checks[0].interval_s == pytest.approx(1.5)
    assert scaled.gates.checks[0].query == "rate(x[15000ms])"
    assert spec.source["spec"]["drain"]["timeout"] == "10m"  # the original is untouched
    off = parse_plan(scaled_document(spec, 20, gates=False), where="scaled")
    assert not off.gates.enabled


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("4.0.0", "4.0.0"),
        ("4.0.3", "4.0.0"),
        ("3.22.0", "3.20.0"),
        ("3.10.0", "3.20.0"),
        ("9.0.0", "4.1.0"),
        (None, "4.1.0"),
    ],
)
def test_releases_the_simulator_lacks_map_to_the_nearest_older_one(version: str | None, expected: str) -> None:
    assert nearest_release(version) == expected


def test_copied_builds_finish_spread_out_within_their_remaining_time() -> None:
    at = datetime(2026, 11, 27, tzinfo=UTC)
    started = (at - timedelta(minutes=10)).isoformat().replace("+00:00", "Z")
    lefts = [_left({"metadata": {"uid": f"uid-{i}"}, "status": {"startTime": started}}, at, 1800.0) for i in range(200)]
    assert all(MIN_BUILD_LEFT_S <= s <= 1200.0 for s in lefts)
    assert max(lefts) - min(lefts) > 900  # spread, not all at once
    old = _left({"metadata": {"uid": "u"}, "status": {"startTime": "2026-11-26T00:00:00Z"}}, at, 1800.0)
    assert old == MIN_BUILD_LEFT_S
