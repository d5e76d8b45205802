"""Pause and abort requests: what ``fleetctl upgrade pause|abort`` and the dashboard's keys do.

A request is a state change in the store. A live executor (one holding the run's lock) reads it
before every node start: it stops starting nodes and lets the ones in flight finish.
"""

from __future__ import annotations

from dataclasses import dataclass

from store.engine import Store
from store.errors import BadInputError
from store.models import now
from store.runs import read_run, set_run
from store.states import ABORTABLE_RUNS, RunState

PAUSABLE = frozenset({RunState.PENDING, RunState.RUNNING})


@dataclass(frozen=True)
class Requested:
    """The state a request left the run in, and whether an executor is running it."""

    state: RunState
    live: bool


def request_pause(store: Store, run_id: int) -> Requested:
    """Pause: "pausing" while an executor runs it (it finishes nodes in flight), else "paused"."""
    return _request(store, run_id, live=RunState.PAUSING, idle=RunState.PAUSED, allowed=PAUSABLE)


def request_abort(store: Store, run_id: int) -> Requested:
    """Abort: "aborting" (an executor finishes the nodes in flight and uncordons them)."""
    return _request(store, run_id, live=RunState.ABORTING, idle=RunState.ABORTING, allowed=ABORTABLE_RUNS)


def _request(store: Store, run_id: int, *, live: RunState, idle: RunState, allowed: frozenset[RunState]) -> Requested:
    view = read_run(store, run_id)
    if view.run.state not in allowed:
        raise BadInputError(
            f"run {run_id} is {view.run.state}",
            where="run",
            hint=f"this works on a run that is {', '.join(s for s in RunState if s in allowed)}",
        )
    held = bool(view.run.holder and view.run.lease_expires_at and view.run.lease_expires_at > now())
    state = live if held else idle
    if not set_run(store, run_id, state=state, expect=list(allowed)):
        raise BadInputError(f"run {run_id} changed meanwhile", where="run", hint="look again: fleetctl upgrade status")
    return Requested(state, held)
