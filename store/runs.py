"""Upgrade runs in the store: the run, its waves and node steps, the executor lock and the audit trail.

A run is written whole in one transaction (nothing half-written on bad input). Each later
change is its own short write, so a killed executor leaves the last step it recorded.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypedDict

import sqlalchemy as sa
from sqlmodel import Session, col, select

from store.engine import Store
from store.errors import BadInputError
from store.models import AuditEvent, Cluster, Node, NodeStep, UpgradeRun, Wave, now
from store.states import STEPS, RunKind, RunState, Step, StepState, WaveState  # noqa: F401 - STEPS is re-exported


class DrainSummary(TypedDict, total=False):
    """What a node's drain took."""

    removed: int
    refused: int  # evictions a PodDisruptionBudget refused (429)
    refusedPods: list[str]  # a few of those pods, namespace/name
    waitedForBuilds: float  # seconds spent waiting for build pods (onTimeout: wait-for-builds)


class StepFacts(TypedDict, total=False):
    """What a node step records about its node: claim's reading (the verify baseline), the drain,
    and the seconds each step took. A rollback's steps start with ``expectHandlers`` only."""

    uid: str | None
    arch: str | None
    version: str | None
    handlers: list[str]
    guestKernel: str | None
    customKernel: bool
    wasCordoned: bool
    expectHandlers: list[str]
    drain: DrainSummary
    seconds: dict[str, float]


@dataclass(frozen=True)
class DraftNode:
    """A node to write into a new run."""

    cluster: str
    name: str
    from_version: str | None
    target_version: str
    facts: StepFacts = field(default_factory=lambda: StepFacts())  # known before claim (a rollback's expected handlers)


@dataclass
class StepView:
    """One node's step, with the node's name and cluster."""

    id: int
    wave: int
    cluster: str
    node: str
    step: Step
    state: StepState
    from_version: str | None
    target_version: str | None
    cordoned_by_us: bool
    attempts: int
    message: str
    facts: StepFacts
    position: int
    started_at: datetime | None
    updated_at: datetime


@dataclass
class RunView:
    """A run with its waves and steps, read in one transaction."""

    run: UpgradeRun
    waves: list[Wave]
    steps: list[StepView] = field(default_factory=list)

    def wave_steps(self, number: int) -> list[StepView]:
        """The steps of wave ``number``, in rollout order."""
        return [s for s in self.steps if s.wave == number]


def create_run(
    store: Store,
    *,
    name: str,
    target: str,
    plan: dict[str, Any],
    waves: Sequence[Sequence[DraftNode]],
    kind: RunKind = RunKind.UPGRADE,
    parent_id: int | None = None,
) -> int:
    """Write a pending run with its waves and node steps; returns its id."""
    at = now()
    with store.write() as session:
        ids = _node_ids(session, [n for wave in waves for n in wave])
        run = UpgradeRun(
            name=name, kind=kind, parent_id=parent_id, target_version=target, state=RunState.PENDING, plan=plan,
            created_at=at, updated_at=at,
        )  # fmt: skip
        session.add(run)
        session.flush()
        assert run.id is not None
        position = 0
        for number, nodes in enumerate(waves, start=1):
            wave = Wave(run_id=run.id, number=number, state=WaveState.PENDING, size=len(nodes))
            session.add(wave)
            session.flush()
            assert wave.id is not None
            for n in nodes:
                position += 1
                session.add(
                    NodeStep(
                        run_id=run.id, wave_id=wave.id, node_id=ids[(n.cluster, n.name)], step=Step.CLAIM,
                        state=StepState.PENDING, from_version=n.from_version, target_version=n.target_version,
                        position=position, updated_at=at, facts=dict(n.facts),
                    )
                )  # fmt: skip
        return run.id


def _node_ids(session: Session, nodes: Sequence[DraftNode]) -> dict[tuple[str, str], int]:
    rows = session.execute(
        sa.select(col(Cluster.name), col(Node.name), col(Node.id))
        .join(Cluster, col(Cluster.id) == col(Node.cluster_id))
        .where(col(Node.gone_at).is_(None))
    ).all()
    known = {(c, n): i for c, n, i in rows}
    missing = [f"{n.cluster}/{n.name}" for n in nodes if (n.cluster, n.name) not in known]
    if missing:
        raise BadInputError(
            f"{len(missing)} nodes are not in the store: {', '.join(missing[:5])}",
            where="plan",
            hint="run fleetctl collect, then plan again",
        )
    return known


def read_run(store: Store, run_id: int | None = None) -> RunView:
    """A run (the newest when ``run_id`` is None) with its waves and steps."""
    with store.read() as session:
        query = select(UpgradeRun)
        query = (
            query.where(col(UpgradeRun.id) == run_id)
            if run_id is not None
            else query.order_by(col(UpgradeRun.id).desc())
        )
        run = session.exec(query.limit(1)).first()
        if run is None:
            raise BadInputError(
                "no upgrade run yet" if run_id is None else f"there is no run {run_id}",
                where="run",
                hint="list runs with: fleetctl upgrade history",
            )
        waves = list(session.exec(select(Wave).where(col(Wave.run_id) == run.id).order_by(col(Wave.number))).all())
        number = {w.id: w.number for w in waves}
        rows = session.execute(
            sa.select(NodeStep, col(Node.name), col(Cluster.name))
            .join(Node, col(Node.id) == col(NodeStep.node_id))
            .join(Cluster, col(Cluster.id) == col(Node.cluster_id))
            .where(col(NodeStep.run_id) == run.id)
            .order_by(col(NodeStep.position))
        ).all()
        steps = [
            StepView(
                id=s.id or 0,
                wave=number[s.wave_id],
                cluster=cluster,
                node=node,
                step=Step(s.step),
                state=StepState(s.state),
                from_version=s.from_version,
                target_version=s.target_version,
                cordoned_by_us=s.cordoned_by_us,
                attempts=s.attempts,
                message=s.message,
                facts=StepFacts(**(s.facts or {})),  # type: ignore[typeddict-item]
                position=s.position,
                started_at=s.started_at,
                updated_at=s.updated_at,
            )
            for s, node, cluster in rows
        ]
        return RunView(run, waves, steps)


def shown_state(run: UpgradeRun, at: datetime | None = None) -> RunState:
    """The state to show: ``interrupted`` for an active run no executor holds (its executor was
    stopped, or died and its lock ran out), so nobody mistakes it for one in progress."""
    at = at or now()
    held = run.holder is not None and run.lease_expires_at is not None and run.lease_expires_at > at
    if run.state in (RunState.RUNNING, RunState.PAUSING, RunState.ABORTING) and not held:
        return RunState.INTERRUPTED
    return RunState(run.state)


def list_runs(store: Store, limit: int = 50) -> list[UpgradeRun]:
    """The newest runs first."""
    with store.read() as session:
        return list(session.exec(select(UpgradeRun).order_by(col(UpgradeRun.id).desc()).limit(limit)).all())


def run_progress(store: Store) -> dict[int, tuple[int, int, int]]:
    """Per run: (nodes done, nodes failed, nodes in all), in one grouped read."""
    with store.read_connection() as conn:
        rows = conn.execute(
            sa.select(col(NodeStep.run_id), col(NodeStep.state), sa.func.count()).group_by(
                col(NodeStep.run_id), col(NodeStep.state)
            )
        ).all()
    out: dict[int, tuple[int, int, int]] = {}
    for run_id, state, n in rows:
        done, failed, total = out.get(run_id, (0, 0, 0))
        out[run_id] = (
            done + (n if state == StepState.DONE else 0),
            failed + (n if state == StepState.FAILED else 0),
            total + n,
        )
    return out


def set_run(store: Store, run_id: int, *, expect: Sequence[str] | None = None, **values: object) -> bool:
    """Update a run's columns; with ``expect``, only from one of those states. True when it changed."""
    values.setdefault("updated_at", now())
    with store.write() as session:
        stmt = sa.update(UpgradeRun).where(col(UpgradeRun.id) == run_id)
        if expect is not None:
            stmt = stmt.where(col(UpgradeRun.state).in_(list(expect)))
        return bool(session.execute(stmt.values(**values)).rowcount)  # type: ignore[attr-defined]


def run_state(store: Store, run_id: int) -> RunState:
    """The run's state as stored now (a pause or abort request shows here)."""
    with store.read_connection() as conn:
        state = conn.execute(sa.select(col(UpgradeRun.state)).where(col(UpgradeRun.id) == run_id)).scalar()
    return RunState(str(state))


def set_step(store: Store, step_id: int, **values: object) -> None:
    """Record a node's step: written before and after each step runs."""
    values.setdefault("updated_at", now())
    statement = _step_update(tuple(sorted(values)))
    params = {"step_id": step_id, **{f"new_{k}": v for k, v in values.items()}}
    store.write_grouped(statement, params)


@functools.lru_cache(maxsize=64)
def _step_update(columns: tuple[str, ...]) -> sa.Update:
    """One statement per set of columns, compiled once: a rollout writes thousands of steps."""
    table = NodeStep.__table__  # type: ignore[attr-defined]
    return (
        sa.update(table)
        .where(table.c.id == sa.bindparam("step_id"))
        .values({name: sa.bindparam(f"new_{name}") for name in columns})
    )


def set_wave(store: Store, run_id: int, number: int, **values: object) -> None:
    """Update one wave of a run."""
    with store.write() as session:
        session.execute(sa.update(Wave).where(col(Wave.run_id) == run_id, col(Wave.number) == number).values(**values))


def claim_run(
    store: Store, run_id: int, holder: str, ttl: timedelta, *, holder_alive: Callable[[str], bool]
) -> str | None:
    """Take the store-side lock on a run. Returns None on success, else who holds it and until when."""
    at = now()
    with store.write() as session:
        run = session.get(UpgradeRun, run_id)
        if run is None:
            raise BadInputError(f"there is no run {run_id}", where="run", hint="fleetctl upgrade history")
        held = run.holder and run.holder != holder and run.lease_expires_at and run.lease_expires_at > at
        if held and run.holder and holder_alive(run.holder):
            return f"{run.holder} until {run.lease_expires_at:%H:%M:%S}Z"
        run.holder, run.lease_expires_at, run.updated_at = holder, at + ttl, at
        session.add(run)
        return None


def renew_run(store: Store, run_id: int, holder: str, ttl: timedelta) -> bool:
    """Extend the store-side lock; False when someone else holds it now."""
    at = now()
    with store.write() as session:
        changed = session.execute(
            sa.update(UpgradeRun)
            .where(col(UpgradeRun.id) == run_id, col(UpgradeRun.holder) == holder)
            .values(lease_expires_at=at + ttl)
        ).rowcount  # type: ignore[attr-defined]
        return bool(changed)


def release_run(store: Store, run_id: int, holder: str) -> None:
    """Give the store-side lock back."""
    with store.write() as session:
        session.execute(
            sa.update(UpgradeRun)
            .where(col(UpgradeRun.id) == run_id, col(UpgradeRun.holder) == holder)
            .values(holder=None, lease_expires_at=None)
        )


def audit_begin(
    store: Store,
    *,
    actor: str,
    action: str,
    targets: Sequence[str],
    run_id: int | None,
    cluster: str | None,
    reason: str = "",
) -> list[str]:
    """Record writes before they are sent, as ``pending``, in one commit; returns the keys
    ``audit_end`` takes, one per target.

    A process killed between a request and its result leaves the row pending, so no change
    fleetctl may have made is missing from the trail."""
    if not targets:
        return []
    at, keys = now(), [uuid.uuid4().hex for _ in targets]
    rows: list[dict[str, object]] = [
        {"at": at, "actor": actor, "cluster_name": cluster, "run_id": run_id, "action": action,
         "target": target[:512], "reason": reason, "result": "pending", "details": {}, "op": key}
        for target, key in zip(targets, keys, strict=True)
    ]  # fmt: skip
    store.write_grouped(_AUDIT_INSERT_OP, rows)
    return keys


def audit_end(store: Store, key: str, result: str | None, *, error: str | None = None) -> None:
    """The write's result ("ok" or "failed"); None drops the row (nothing changed, as on a 429).
    Queued, not waited for (``Store.write_soon``): a crash before the commit leaves the row pending."""
    if result is None:
        store.write_soon(_AUDIT_DROP, {"key": key})
        return
    store.write_soon(_AUDIT_END, {"key": key, "result": result, "details": {"error": error} if error else {}})


_AUDIT_INSERT = sa.insert(AuditEvent).values(
    cluster_id=sa.select(col(Cluster.id)).where(col(Cluster.name) == sa.bindparam("cluster_name")).scalar_subquery(),
    **{
        name: sa.bindparam(name)
        for name in ("at", "actor", "run_id", "action", "target", "reason", "result", "details")
    },
)


_AUDIT_INSERT_OP = _AUDIT_INSERT.values(op=sa.bindparam("op"))
_AUDIT_END = (
    sa.update(AuditEvent)
    .where(col(AuditEvent.op) == sa.bindparam("key"))
    .values(result=sa.bindparam("result"), details=sa.bindparam("details"))
)
_AUDIT_DROP = sa.delete(AuditEvent).where(col(AuditEvent.op) == sa.bindparam("key"))


def audit_rows(store: Store, run_id: int) -> list[AuditEvent]:
    """A run's audit trail, oldest first (with this process's queued results committed first)."""
    store.flush()
    with store.read() as session:
        query = select(AuditEvent).where(col(AuditEvent.run_id) == run_id).order_by(col(AuditEvent.id))
        return list(session.exec(query).all())
