"""The rollout state machine's vocabulary: every state a run, wave, node step or gate can be in.

They are ``StrEnum``s, so they are stored as the same strings as before (no migration) and
compare equal to them, while the code names each state once. The transitions:

    run:   pending -> running -> (pausing -> paused) | (aborting -> aborted) | done -> rolled-back
    wave:  pending -> running -> done | failed | paused
    step:  pending -> running -> done | failed | skipped      (at claim .. uncordon, then done)
    gate:  running -> passed | failed | inconclusive | stopped
"""

from __future__ import annotations

from enum import StrEnum


class RunKind(StrEnum):
    """What a run does."""

    UPGRADE = "upgrade"
    ROLLBACK = "rollback"  # takes another run's changed nodes back to their previous release


class RunState(StrEnum):
    """An upgrade or rollback run."""

    PENDING = "pending"
    RUNNING = "running"
    PAUSING = "pausing"  # asked to pause: no new node starts, nodes in flight finish
    PAUSED = "paused"
    ABORTING = "aborting"  # asked to abort: nodes in flight finish and are uncordoned
    ABORTED = "aborted"
    DONE = "done"
    ROLLED_BACK = "rolled-back"  # a rollback run took its nodes back
    INTERRUPTED = "interrupted"  # shown, never stored: active, but no executor holds its lock (shown_state)


class WaveState(StrEnum):
    """One wave of a run."""

    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    DONE = "done"
    FAILED = "failed"


class StepState(StrEnum):
    """One node's step in a run."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


class Step(StrEnum):
    """Where a node is in its flow (``DONE`` after the last)."""

    CLAIM = "claim"
    CORDON = "cordon"
    DRAIN = "drain"
    INSTALL = "install"
    VERIFY = "verify"
    UNCORDON = "uncordon"
    DONE = "done"


class NodeEnd(StrEnum):
    """Where a node's flow ended short of ``Step.DONE``, as its step annotation records it."""

    FAILED = "failed"
    SKIPPED = "skipped"
    STOPPED = "stopped"  # the API server refused a call: the node was given back, its step is claim again


NodeMark = Step | NodeEnd
"""What a node's step annotation says: the step it is at, or how its flow ended."""


class Eviction(StrEnum):
    """What asking the API server to evict (or delete) one pod came to."""

    EVICTED = "evicted"
    BLOCKED = "blocked"  # a PodDisruptionBudget said 429: ask again later
    GONE = "gone"  # it was gone already


class OnTimeout(StrEnum):
    """``spec.drain.onTimeout``: what a drain that ran out of time does with its node."""

    FAIL = "fail"
    SKIP = "skip"
    WAIT_FOR_BUILDS = "wait-for-builds"  # wait (up to buildWaitLimit) for build pods to finish


class OnBreach(StrEnum):
    """``spec.failureBudget.onBreach``: what a breached failure budget does to the run."""

    PAUSE = "pause"
    ROLLBACK = "rollback"


class GateState(StrEnum):
    """A wave's gate, and each of its checks."""

    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    INCONCLUSIVE = "inconclusive"
    STOPPED = "stopped"  # the run was paused or aborted while the gate measured


class NodeOutcome(StrEnum):
    """How one node's flow ended in this executor."""

    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"  # SIGTERM: the node stays at its recorded step for the next executor


class Stop(StrEnum):
    """Why a wave stopped starting nodes before all had finished."""

    PAUSED = "paused"
    ABORTED = "aborted"
    INTERRUPTED = "interrupted"
    LEASE_LOST = "lease-lost"
    WINDOW = "window"
    BUDGET = "budget"
    REFUSED = "refused"  # the API server refused a call (403, 404, 422)


class Outcome(StrEnum):
    """What ``Executor.execute`` ended in."""

    DONE = "done"
    PAUSED = "paused"
    ABORTED = "aborted"
    INTERRUPTED = "interrupted"
    ROLLED_BACK = "rolled-back"


STEPS: tuple[Step, ...] = (Step.CLAIM, Step.CORDON, Step.DRAIN, Step.INSTALL, Step.VERIFY, Step.UNCORDON)
FINISHED_STEPS = frozenset({StepState.DONE, StepState.FAILED, StepState.SKIPPED})
ACTIVE_RUNS = frozenset({RunState.PENDING, RunState.RUNNING, RunState.PAUSING, RunState.ABORTING})
ABORTABLE_RUNS = frozenset({RunState.PENDING, RunState.RUNNING, RunState.PAUSING, RunState.PAUSED})
ENDED_RUNS = frozenset({RunState.DONE, RunState.ABORTED, RunState.ROLLED_BACK})
