"""Retention: drop history older than a cutoff, and nodes gone since before it.

Current facts and current check results are never dropped. A gone node is deleted with its
history only when nothing else refers to it (an upgrade run's steps keep it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col

from store.models import HealthCheck, HealthTransition, Node, NodeChange, NodeEvent, NodeState, NodeStep


@dataclass(frozen=True)
class CompactResult:
    """Rows dropped (or, on a dry run, that would be)."""

    changes: int
    transitions: int
    nodes: int


def compact(session: Session, *, before: datetime, dry_run: bool = False) -> CompactResult:
    """Drop change rows, transitions and events older than ``before``, and nodes gone before it."""
    old_changes = sa.select(sa.func.count()).select_from(NodeChange).where(col(NodeChange.at) < before)
    old_transitions = sa.select(sa.func.count()).select_from(HealthTransition).where(col(HealthTransition.at) < before)
    referenced = sa.select(col(NodeStep.node_id))
    gone = sa.select(col(Node.id)).where(col(Node.gone_at) < before, col(Node.id).not_in(referenced))
    gone_ids = [row[0] for row in session.execute(gone)]
    result = CompactResult(
        changes=int(session.execute(old_changes).scalar_one()),
        transitions=int(session.execute(old_transitions).scalar_one()),
        nodes=len(gone_ids),
    )
    if dry_run:
        return result
    session.execute(sa.delete(NodeChange).where(col(NodeChange.at) < before))
    session.execute(sa.delete(HealthTransition).where(col(HealthTransition.at) < before))
    session.execute(sa.delete(NodeEvent).where(col(NodeEvent.at) < before))
    for i in range(0, len(gone_ids), 500):
        chunk = gone_ids[i : i + 500]
        for table, column in (
            (NodeChange, NodeChange.node_id),
            (HealthTransition, HealthTransition.node_id),
            (HealthCheck, HealthCheck.node_id),
            (NodeEvent, NodeEvent.node_id),
            (NodeState, NodeState.node_id),
        ):
            session.execute(sa.delete(table).where(col(column).in_(chunk)))
        session.execute(sa.delete(Node).where(col(Node.id).in_(chunk)))
    session.flush()
    return result
