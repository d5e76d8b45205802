"""Running a wave's gate: the soak, then every check's measurements against Prometheus."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TypedDict

from clients.prom import PromSource, scrape_timed_out
from clients.promql import PromQLError
from store.errors import BadInputError
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


@dataclass(frozen=True)
class GateScope:
    """One cluster's part of a gate: the metrics of that cluster only, and its nodes. A gate over
    several clusters measures each with its own nodes and source and judges the samples together,
    so no query ever reads one cluster's Prometheus with another cluster's nodes."""

    cluster: str
    source: Metrics | None
    nodes: Sequence[str]
    wave_nodes: Sequence[str]


def check_queries(gates: Gates, scopes: Sequence[GateScope], *, target: str) -> None:
    """Every check's query can be limited to each cluster (no matcher of its own on the cluster
    label); else a ``BadInputError`` naming the check."""
    for check in gates.checks:
        for scope in scopes:
            if not isinstance(scope.source, PromSource):
                continue
            query = render_query(check.query, nodes=scope.nodes, wave_nodes=scope.wave_nodes, target=target)
            try:
                scope.source.prepare(query)
            except PromQLError as exc:
                raise BadInputError(
                    f"gate check {check.name!r} cannot be limited to cluster {scope.cluster}: {exc}",
                    where=f"spec.gates.checks[{check.name}].query",
                    hint=f"fleetctl adds {scope.source.config.cluster_label}=... itself: drop that matcher from the query",
                ) from None


def _measure_scopes(queries: Sequence[tuple[GateScope, str]], *, many: bool) -> list[float] | str:
    """Each cluster's samples of its own query, together; the first error (naming its cluster
    when there are several) wins."""
    values: list[float] = []
    for scope, query in queries:
        if scope.source is None:
            return "no Prometheus is configured" + (f" for cluster {scope.cluster}" if many else "")
        answer = scope.source.values(query)
        if isinstance(answer, str):
            return f"cluster {scope.cluster}: {answer}" if many else answer
        values.extend(answer)
    return values


def _no_data_reasons(scopes: Sequence[GateScope], *, many: bool) -> str:
    """Why no cluster's query found samples, from each cluster's own kata-monitor targets."""
    reasons = [
        (f"{sc.cluster}: " if many else "") + no_data_reason(sc.source, [*sc.nodes, *sc.wave_nodes])
        for sc in scopes
        if sc.source is not None
    ]
    return "; ".join(reasons)


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
    scopes: Sequence[GateScope] | None = None,
) -> tuple[GateState, str, list[GateCheckResult]]:
    """Soak, then measure every check until each has a verdict: (passed|failed|inconclusive|stopped, why, results).

    ``scopes``: the clusters of the run, each with its own source and nodes (``source``, ``nodes``
    and ``wave_nodes`` are then unused); without them, one scope of those three.
    """
    scopes = list(scopes) if scopes is not None else [GateScope("", source, nodes, wave_nodes)]
    many = len(scopes) > 1
    check_queries(gates, scopes, target=target)
    deadline = clock.monotonic() + gates.soak_s
    while clock.monotonic() < deadline:
        if should_stop():
            return GateState.STOPPED, "stopped during the soak", []
        clock.sleep(min(0.2, max(0.0, deadline - clock.monotonic())))
    queries = {
        c.name: [(sc, render_query(c.query, nodes=sc.nodes, wave_nodes=sc.wave_nodes, target=target)) for sc in scopes]
        for c in gates.checks
    }
    results = [
        GateCheckResult(c.name, "\n".join(f"{sc.cluster}: {q}" if many else q for sc, q in queries[c.name]))
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
            answer = _measure_scopes(queries[r.name], many=many)
            m = measure(rules[r.name], answer)
            if not isinstance(answer, str) and not answer and (why := _no_data_reasons(scopes, many=many)):
                m = replace(m, message=f"{m.message}: {why}")
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
