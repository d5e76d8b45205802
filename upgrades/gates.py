"""Running a wave's gate: the soak, then every check's measurements against Prometheus."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TypedDict

from clients.prom import scrape_timed_out
from store.states import GateState
from upgrades.analysis import (
    CheckRule,
    GateMeasurement,
    measure,
    render_query,
    verdict,
)
from upgrades.clock import SYSTEM_CLOCK, Clock
from upgrades.planfile import Check, Gates
from upgrades.ports import Metrics

ValueSource = Metrics  # the name gates used before ports.py; PromSource is one


class MeasurementRecord(TypedDict):
    """One measurement as a wave's gate results store it."""

    at: str  # ISO 8601, UTC
    outcome: str  # an ``upgrades.analysis.MeasurementOutcome``
    values: list[float]
    message: str


class StoredCheck(TypedDict):
    """One check as ``wave.gate_results`` stores it."""

    name: str
    query: str
    state: str  # a ``GateState``
    message: str
    measurements: list[MeasurementRecord]


@dataclass
class GateCheckResult:
    """One gate check's measurements and verdict (a node's health check is ``store.checks.CheckResult``)."""

    name: str
    query: str
    state: GateState = GateState.RUNNING
    message: str = ""
    measurements: list[MeasurementRecord] = field(default_factory=list)

    def as_dict(self) -> StoredCheck:
        """The stored form (wave.gate_results)."""
        return {
            "name": self.name,
            "query": self.query,
            "state": self.state,
            "message": self.message,
            "measurements": self.measurements,
        }


def no_data_reason(source: Metrics, nodes: Sequence[str]) -> str:
    """Why a gate query found no samples, from the kata-monitor targets of these nodes: slow
    scrapes (the target is up but answers after scrape_timeout), targets that are down, or none."""
    errors = source.scrape_errors()
    if errors is None:
        return "Prometheus did not say which kata-monitor targets are down"
    wanted = set(nodes)
    down = {node: error for node, error in errors.items() if node in wanted}
    if not down:
        return (
            "every kata-monitor target of these nodes is up: the query matches no series yet (check it in Prometheus)"
        )
    slow = sorted(node for node, error in down.items() if scrape_timed_out(error))
    gone = sorted(set(down) - set(slow))
    parts = [f"{len(slow)} {_verb(slow, 'answers', 'answer')} after scrape_timeout (slow, not gone: {_few(slow)})"]
    parts = parts if slow else []
    parts += [f"{len(gone)} {_verb(gone, 'is', 'are')} down ({_few(gone)})"] if gone else []
    return "kata-monitor on these nodes: " + "; ".join(parts)


def _verb(names: Sequence[str], one: str, many: str) -> str:
    return one if len(names) == 1 else many


def _few(names: Sequence[str], shown: int = 3) -> str:
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


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
    on_update: Callable[[list[GateCheckResult]], None],
    clock: Clock = SYSTEM_CLOCK,
) -> tuple[GateState, str, list[GateCheckResult]]:
    """Soak, then measure every check until each has a verdict: (passed|failed|inconclusive|stopped, why, results)."""
    deadline = clock.monotonic() + gates.soak_s
    while clock.monotonic() < deadline:
        if should_stop():
            return GateState.STOPPED, "stopped during the soak", []
        clock.sleep(min(0.2, max(0.0, deadline - clock.monotonic())))
    results = [
        GateCheckResult(c.name, render_query(c.query, nodes=nodes, wave_nodes=wave_nodes, target=target))
        for c in gates.checks
    ]
    rules = {c.name: rule_of(c) for c in gates.checks}
    history: dict[str, list[GateMeasurement]] = {c.name: [] for c in gates.checks}
    due = {c.name: clock.monotonic() for c in gates.checks}
    intervals = {c.name: c.interval_s for c in gates.checks}
    while any(r.state == GateState.RUNNING for r in results):
        if should_stop():
            return GateState.STOPPED, "stopped while measuring", results
        now = clock.monotonic()
        for r in results:
            if r.state != GateState.RUNNING or due[r.name] > now:
                continue
            answer = source.values(r.query) if source else "no Prometheus is configured"
            m = measure(rules[r.name], answer)
            if source is not None and not isinstance(answer, str) and not answer:
                m = replace(m, message=f"{m.message}: {no_data_reason(source, [*nodes, *wave_nodes])}")
            history[r.name].append(m)
            r.measurements.append(
                {
                    "at": clock.now().isoformat(),
                    "outcome": m.outcome,
                    "values": list(m.values[:20]),
                    "message": m.message,
                }
            )
            r.state, r.message = verdict(rules[r.name], history[r.name])
            due[r.name] = now + intervals[r.name]
        on_update(results)
        pending = [due[r.name] for r in results if r.state == GateState.RUNNING]
        if pending:
            clock.sleep(max(0.0, min(min(pending) - clock.monotonic(), 0.5)))
    failed = [r for r in results if r.state == GateState.FAILED]
    if failed:
        return GateState.FAILED, "; ".join(f"gate {r.name} failed: {r.message}" for r in failed), results
    unsure = [r for r in results if r.state == GateState.INCONCLUSIVE]
    if unsure:
        return GateState.INCONCLUSIVE, "; ".join(f"gate {r.name} inconclusive: {r.message}" for r in unsure), results
    return GateState.PASSED, f"{len(results)} checks passed", results
