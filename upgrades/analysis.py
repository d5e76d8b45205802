"""Gate analysis, in the manner of Argo Rollouts: measurements, limits and an explicit no-data rule.

Pure logic: a measurement is judged from the query's sample values (or its error), and a
check's verdict from its measurements so far.

- ``failureCondition`` holds for any sample: the measurement fails.
- else ``successCondition`` holds for every sample: it succeeds; otherwise it fails.
- no samples: ``noData`` decides (``fail`` by default, so a gate with no data fails closed).
- a query error is an error; more than ``consecutiveErrorLimit`` in a row fails the check.
- more than ``failureLimit`` failed measurements fail the check.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from store.states import GateState

CONDITION = re.compile(r"^\s*value\s*(<=|>=|==|!=|<|>)\s*(-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)\s*$")
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
}  # fmt: skip


class MeasurementOutcome(StrEnum):
    """How one evaluation of a gate check came out (not ``store.states.Outcome``, which is how a
    run's execution ended)."""

    SUCCESS = "success"
    FAILURE = "failure"
    ERROR = "error"
    INCONCLUSIVE = "inconclusive"


SUCCESS, FAILURE, ERROR, INCONCLUSIVE = (
    MeasurementOutcome.SUCCESS,
    MeasurementOutcome.FAILURE,
    MeasurementOutcome.ERROR,
    MeasurementOutcome.INCONCLUSIVE,
)
PASSED, FAILED, RUNNING = GateState.PASSED, GateState.FAILED, GateState.RUNNING


@dataclass(frozen=True)
class GateMeasurement:
    """One evaluation of a gate check (a health check's per-node PromQL answer is ``clients.prom.Sample``)."""

    outcome: MeasurementOutcome
    values: tuple[float, ...] = ()
    message: str = ""


@dataclass(frozen=True)
class CheckRule:
    """The parts of a plan's check that judging needs."""

    success: str | None
    failure: str | None
    count: int
    failure_limit: int
    consecutive_error_limit: int
    no_data: str


def holds(condition: str, value: float) -> bool:
    """``value < 0.5`` and friends; the plan validator has already checked the syntax."""
    m = CONDITION.match(condition)
    if m is None:
        raise ValueError(f"not a condition: {condition!r}")
    return _OPS[m.group(1)](value, float(m.group(2)))


def measure(rule: CheckRule, samples: Sequence[float] | str) -> GateMeasurement:
    """Judge one query answer: its sample values, or the text of its error."""
    if isinstance(samples, str):
        return GateMeasurement(ERROR, (), samples)
    values = tuple(samples)
    if not values:
        outcome = {"fail": FAILURE, "pass": SUCCESS, "inconclusive": INCONCLUSIVE}[rule.no_data]
        return GateMeasurement(outcome, (), f"no data (noData: {rule.no_data})")
    shown = ", ".join(f"{v:g}" for v in values[:5]) + (" ..." if len(values) > 5 else "")
    if rule.failure and any(holds(rule.failure, v) for v in values):
        return GateMeasurement(FAILURE, values, f"[{shown}] meets failureCondition {rule.failure}")
    if rule.success and not all(holds(rule.success, v) for v in values):
        return GateMeasurement(FAILURE, values, f"[{shown}] misses successCondition {rule.success}")
    return GateMeasurement(SUCCESS, values, f"[{shown}] ok")


def verdict(rule: CheckRule, measurements: Sequence[GateMeasurement]) -> tuple[GateState, str]:
    """(passed | failed | inconclusive | running, why) after these measurements."""
    failures = sum(1 for m in measurements if m.outcome == FAILURE)
    if failures > rule.failure_limit:
        last = next(m for m in reversed(measurements) if m.outcome == FAILURE)
        return FAILED, f"{failures} failed measurements (failureLimit {rule.failure_limit}): {last.message}"
    streak = 0
    for m in reversed(measurements):
        if m.outcome != ERROR:
            break
        streak += 1
    if streak > rule.consecutive_error_limit:
        return (
            FAILED,
            f"{streak} query errors in a row (consecutiveErrorLimit {rule.consecutive_error_limit}): {measurements[-1].message}",
        )
    if any(m.outcome == INCONCLUSIVE for m in measurements):
        return GateState.INCONCLUSIVE, "no data, and noData is inconclusive: a person decides (resume or abort)"
    done = sum(1 for m in measurements if m.outcome != ERROR)
    if done >= rule.count:
        return PASSED, f"{done} measurements, {failures} failed"
    return RUNNING, f"{done} of {rule.count} measurements"


def render_query(query: str, *, nodes: Sequence[str], wave_nodes: Sequence[str], target: str) -> str:
    """Fill ``{{nodes}}`` (this run's upgraded nodes), ``{{wave_nodes}}`` and ``{{target}}``.

    Node lists become an RE2 alternation for ``=~``; every character but letters, digits, - and _
    is escaped, so nothing from the fleet can change the query's shape.
    """

    def alternation(names: Sequence[str]) -> str:
        return "|".join(_regex_literal(n) for n in names) or "$^"

    out = query.replace("{{nodes}}", alternation(nodes)).replace("{{wave_nodes}}", alternation(wave_nodes))
    return out.replace("{{target}}", _regex_literal(target))


def _regex_literal(text: str) -> str:
    """``text`` as an RE2 literal inside a PromQL double-quoted string (so ``.`` becomes ``\\\\.``)."""
    return "".join(c if c.isalnum() or c in "-_" else "\\\\" + c for c in text)
