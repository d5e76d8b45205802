"""Running a wave's gate: the soak, then every check's measurements against Prometheus."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from upgrades.analysis import (
    FAILED,
    INCONCLUSIVE,
    PASSED,
    RUNNING,
    CheckRule,
    Measurement,
    measure,
    render_query,
    verdict,
)
from upgrades.planfile import Check, Gates


class ValueSource(Protocol):
    """Sample values of an instant PromQL query, or the reason it failed (PromSource.values)."""

    def values(self, promql: str) -> list[float] | str: ...


@dataclass
class CheckResult:
    """One check's measurements and verdict."""

    name: str
    query: str
    state: str = RUNNING
    message: str = ""
    measurements: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The stored form (wave.gate_results)."""
        return {
            "name": self.name,
            "query": self.query,
            "state": self.state,
            "message": self.message,
            "measurements": self.measurements,
        }


def rule_of(check: Check) -> CheckRule:
    """The judging part of a plan's check."""
    return CheckRule(
        success=check.success, failure=check.failure, count=check.count, failure_limit=check.failure_limit,
        consecutive_error_limit=check.consecutive_error_limit, no_data=check.no_data,
    )  # fmt: skip


def run_gate(
    gates: Gates,
    source: ValueSource | None,
    *,
    nodes: Sequence[str],
    wave_nodes: Sequence[str],
    target: str,
    should_stop: Callable[[], bool],
    on_update: Callable[[list[CheckResult]], None],
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[str, str, list[CheckResult]]:
    """Soak, then measure every check until each has a verdict: (passed|failed|inconclusive|stopped, why, results)."""
    deadline = time.monotonic() + gates.soak_s
    while time.monotonic() < deadline:
        if should_stop():
            return "stopped", "stopped during the soak", []
        sleep(min(0.2, max(0.0, deadline - time.monotonic())))
    results = [
        CheckResult(c.name, render_query(c.query, nodes=nodes, wave_nodes=wave_nodes, target=target))
        for c in gates.checks
    ]
    rules = {c.name: rule_of(c) for c in gates.checks}
    history: dict[str, list[Measurement]] = {c.name: [] for c in gates.checks}
    due = {c.name: time.monotonic() for c in gates.checks}
    intervals = {c.name: c.interval_s for c in gates.checks}
    while any(r.state == RUNNING for r in results):
        if should_stop():
            return "stopped", "stopped while measuring", results
        now = time.monotonic()
        for r in results:
            if r.state != RUNNING or due[r.name] > now:
                continue
            answer = source.values(r.query) if source else "no Prometheus is configured"
            m = measure(rules[r.name], answer)
            history[r.name].append(m)
            r.measurements.append(
                {
                    "at": datetime.now(UTC).isoformat(),
                    "outcome": m.outcome,
                    "values": list(m.values[:20]),
                    "message": m.message,
                }
            )
            r.state, r.message = verdict(rules[r.name], history[r.name])
            due[r.name] = now + intervals[r.name]
        on_update(results)
        pending = [due[r.name] for r in results if r.state == RUNNING]
        if pending:
            sleep(max(0.0, min(min(pending) - time.monotonic(), 0.5)))
    failed = [r for r in results if r.state == FAILED]
    if failed:
        return FAILED, "; ".join(f"gate {r.name} failed: {r.message}" for r in failed), results
    unsure = [r for r in results if r.state == INCONCLUSIVE]
    if unsure:
        return INCONCLUSIVE, "; ".join(f"gate {r.name} inconclusive: {r.message}" for r in unsure), results
    return PASSED, f"{len(results)} checks passed", results
