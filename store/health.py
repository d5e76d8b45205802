"""Health check results in the store: the current result per node and code, and each transition."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlmodel import Session, col

from store.checks import CheckResult
from store.models import Cluster, HealthCheck, HealthTransition, Node

CHUNK_NODES = 500  # nodes whose checks are read, compared and written at a time


@dataclass(frozen=True)
class HealthWriteResult:
    """What one round of checks wrote."""

    checks: int
    transitions: int


def record_checks(
    session: Session, cluster: str, results: Mapping[str, Sequence[CheckResult]], *, at: datetime
) -> HealthWriteResult:
    """Store each node's current results; write a transition only where a status changed.

    A row is rewritten only when its status, value, message or remediation changed; the
    cluster's ``health_checked_at`` says how fresh the results are.

    Nodes not in ``results`` are left as they were. Results for node names the store does
    not know (not collected yet) are skipped.
    """
    ids = {
        name: node_id
        for node_id, name in session.execute(
            sa.select(col(Node.id), col(Node.name))
            .join(Cluster, col(Cluster.id) == col(Node.cluster_id))
            .where(col(Cluster.name) == cluster)
        )
    }
    known = [(ids[name], checks) for name, checks in results.items() if name in ids]
    written = changed = 0
    for i in range(0, len(known), CHUNK_NODES):  # a chunk at a time: memory stays flat at any fleet size
        chunk = known[i : i + CHUNK_NODES]
        rows = sa.select(
            col(HealthCheck.node_id), col(HealthCheck.code), col(HealthCheck.status),
            col(HealthCheck.value), col(HealthCheck.message), col(HealthCheck.remediation),
        ).where(col(HealthCheck.node_id).in_([node_id for node_id, _ in chunk]))  # fmt: skip
        current = {(r[0], r[1]): _Stored(*r[2:]) for r in session.execute(rows)}  # plain rows: no identity map
        inserts, updates, transitions = _changes(chunk, current, at)
        if inserts:
            session.execute(sa.insert(HealthCheck), inserts)
        if updates:
            session.execute(sa.update(HealthCheck), updates)
        if transitions:
            session.execute(sa.insert(HealthTransition), transitions)
        written += len(inserts) + len(updates)
        changed += len(transitions)
    session.execute(sa.update(Cluster).where(col(Cluster.name) == cluster).values(health_checked_at=at))
    session.flush()
    return HealthWriteResult(checks=written, transitions=changed)


class _Stored(NamedTuple):
    """What a stored check row is compared on."""

    status: str
    value: float | None
    message: str
    remediation: str | None


def _changes(
    chunk: Sequence[tuple[int, Sequence[CheckResult]]], current: Mapping[tuple[int, str], _Stored], at: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows to insert and update, and the transitions to write, for one chunk of nodes."""
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    transitions: list[dict[str, Any]] = []
    for node_id, checks in chunk:
        for check in checks:
            old = current.get((node_id, check.code))
            values = {
                "status": str(check.status),
                "value": check.value,
                "message": check.reason,
                "remediation": check.remediation,
                "checked_at": at,
            }
            if old is None:
                inserts.append({"node_id": node_id, "code": check.code, "since": at, **values})
                transitions.append(_transition(node_id, check, None, at))
            elif old.status != str(check.status):
                updates.append({"node_id": node_id, "code": check.code, "since": at, **values})
                transitions.append(_transition(node_id, check, old.status, at))
            elif (old.value, old.message, old.remediation) != (check.value, check.reason, check.remediation):
                updates.append({"node_id": node_id, "code": check.code, **values})
    return inserts, updates, transitions


def _transition(node_id: int, check: CheckResult, old: str | None, at: datetime) -> dict[str, Any]:
    return {
        "node_id": node_id,
        "code": check.code,
        "at": at,
        "old_status": old,
        "new_status": str(check.status),
        "message": check.reason,
    }
