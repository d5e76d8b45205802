"""Scheduled rollouts: a stored plan and its window, and what is due when the window is open.

A schedule starts one run per opening. The run carries the schedule's window in its plan, so
the executor stops starting nodes when the window closes and the run pauses; the next opening
resumes that run instead of starting another. A run someone paused by hand stays paused.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from store.engine import Store
from store.errors import BadInputError
from store.models import Schedule
from store.runs import read_run, run_state, set_run
from store.schedules import record_opening, set_schedule_run
from store.states import ACTIVE_RUNS, RunState
from upgrades.executor import WINDOW_CLOSED
from upgrades.planfile import parse_plan
from upgrades.window import Window, current, parse_exclusion, validate_window

FLAGS = {"schedule": "--window", "timezone": "--tz", "duration": "--duration"}


def window_of(schedule: Schedule) -> Window:
    """The schedule's maintenance window."""
    return Window(
        schedule=schedule.window_schedule,
        duration_s=schedule.duration_s,
        timezone=schedule.timezone,
        exclude=tuple((date.fromisoformat(a), date.fromisoformat(b)) for a, b in schedule.exclude),
    )


def make_window(schedule: str, duration_s: float, timezone: str, exclude: list[str]) -> Window:
    """A window from command-line values, or ``BadInputError`` naming the flag at fault."""
    ranges = []
    for text in exclude:
        try:
            ranges.append(parse_exclusion(text))
        except ValueError as exc:
            raise BadInputError(str(exc), where="--exclude", hint="e.g. --exclude 2026-12-24..2026-12-26") from None
    window = Window(schedule=schedule.strip(), duration_s=duration_s, timezone=timezone, exclude=tuple(ranges))
    problem = validate_window(window)
    if problem:
        name, message, hint = problem
        raise BadInputError(message, where=FLAGS.get(name, name), hint=hint)
    return window


def plan_document(schedule: Schedule) -> dict[str, Any]:
    """The stored plan with the schedule's window in it (the executor enforces the plan's window)."""
    doc = copy.deepcopy(schedule.plan)
    window: dict[str, Any] = {
        "schedule": schedule.window_schedule,
        "duration": f"{schedule.duration_s:g}s",
        "timezone": schedule.timezone,
    }
    if schedule.exclude:
        window["exclude"] = [a if a == b else f"{a}..{b}" for a, b in schedule.exclude]
    doc.setdefault("spec", {})["window"] = window
    return doc


@dataclass(frozen=True)
class Due:
    """What a schedule should do now: "start" a run, "resume" one, or "none" (with why)."""

    action: str
    run_id: int | None = None
    opening: datetime | None = None
    reason: str = ""


def due(store: Store, schedule: Schedule, now: datetime) -> Due:
    """Decide, from the window and the schedule's last run, what is due at ``now``."""
    if not schedule.enabled:
        return Due("none", reason="disabled")
    opened = current(window_of(schedule), now)
    if opened is None:
        return Due("none", reason="the window is shut")
    last = schedule.last_run_id
    if last is not None:
        state = run_state(store, last)
        if state in ACTIVE_RUNS:
            return Due("resume", run_id=last, opening=opened[0], reason=f"run {last} is {state}")
        if state == RunState.PAUSED and read_run(store, last).run.message == WINDOW_CLOSED:
            return Due("resume", run_id=last, opening=opened[0], reason=f"run {last} waits for the window")
    if schedule.last_opening is not None and schedule.last_opening >= opened[0]:
        return Due("none", reason="this opening already ran")
    return Due("start", opening=opened[0])


def reopen(store: Store, run_id: int) -> None:
    """Set a run that waited for the window going again (a run paused by a person stays paused:
    ``due`` only offers runs whose pause was the window's)."""
    set_run(store, run_id, state=RunState.RUNNING, message="", expect=[RunState.PAUSED])


def start_run(store: Store, schedule: Schedule, opening: datetime) -> int | None:
    """Plan the stored plan against the store now and create its run for ``opening``; None when
    there is nothing to do or it must not start (the schedule's message says why). Only the
    first caller for an opening creates a run."""
    from upgrades.launch import create_run_from_plan, plan_from_store  # launch imports the executor

    assert schedule.id is not None
    if not record_opening(store, schedule.id, opening, None, "planning"):
        return None
    spec = parse_plan(plan_document(schedule), where=f"schedule {schedule.name}")
    result = plan_from_store(store, spec)
    if result.refusals:
        set_schedule_run(store, schedule.id, None, "refused: " + "; ".join(result.refusals))
        return None
    if not result.nodes:
        set_schedule_run(store, schedule.id, None, f"nothing to upgrade: every selected node is at {spec.target}")
        return None
    run_id = create_run_from_plan(store, result)
    set_schedule_run(
        store, schedule.id, run_id, f"run {run_id}: {len(result.nodes)} nodes in {len(result.waves)} waves"
    )
    return run_id
