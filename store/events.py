"""Recent Kubernetes Events per node: written by the collector, shown by describe and the dashboard."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col

from store.models import Cluster, Node, NodeEvent

MESSAGE_LIMIT = 1024


@dataclass(frozen=True)
class EventRecord:
    """One Event, reduced to what an on-call engineer reads."""

    node: str
    uid: str
    at: datetime
    type: str
    reason: str
    message: str
    count: int
    object: str


def record_events(session: Session, cluster: str, events: Sequence[EventRecord]) -> int:
    """Insert new events and update repeated ones (count, time); returns rows written."""
    ids = dict(
        session.execute(
            sa.select(col(Node.name), col(Node.id))
            .join(Cluster, col(Cluster.id) == col(Node.cluster_id))
            .where(col(Cluster.name) == cluster, col(Node.gone_at).is_(None))
        ).all()
    )
    mine = [e for e in events if e.node in ids]
    if not mine:
        return 0
    known: dict[tuple[int, str], tuple[int, int]] = {}
    uids = sorted({e.uid for e in mine})
    for i in range(0, len(uids), 500):  # bounded IN lists
        rows = session.execute(
            sa.select(col(NodeEvent.id), col(NodeEvent.node_id), col(NodeEvent.uid), col(NodeEvent.count)).where(
                col(NodeEvent.uid).in_(uids[i : i + 500])
            )
        ).all()
        known.update({(node_id, uid): (row_id, count) for row_id, node_id, uid, count in rows})
    written = 0
    for e in mine:
        node_id = ids[e.node]
        found = known.get((node_id, e.uid))
        if found is None:
            session.add(
                NodeEvent(
                    node_id=node_id, uid=e.uid, at=e.at, type=e.type[:16], reason=e.reason[:128],
                    message=e.message[:MESSAGE_LIMIT], count=e.count, object=e.object[:300],
                )
            )  # fmt: skip
            written += 1
        elif found[1] != e.count:
            session.execute(sa.update(NodeEvent).where(col(NodeEvent.id) == found[0]).values(count=e.count, at=e.at))
            written += 1
    return written


def recent_events(session: Session, node_id: int, limit: int = 10) -> list[NodeEvent]:
    """A node's newest events."""
    query = (
        sa.select(NodeEvent).where(col(NodeEvent.node_id) == node_id).order_by(col(NodeEvent.at).desc()).limit(limit)
    )
    return list(session.execute(query).scalars().all())
