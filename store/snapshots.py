"""Writing an inventory snapshot: only what changed, in one transaction.

A collector hands over every node of a cluster as ``NodeFacts``. Nodes whose facts digest
is unchanged cost one comparison and no write. For the others, one ``node_change`` row is
written per changed fact, as osquery's differential results do. A node that is missing
from a complete snapshot is marked gone (never deleted), so its history stays readable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from store.facts import FACT_NAMES, NodeFacts, diff_facts, render_fact
from store.models import Cluster, Node, NodeChange, NodeState

PRESENCE = "presence"  # the pseudo-fact recorded when a node appears, goes or returns
_CHUNK = 500


@dataclass(frozen=True)
class SnapshotResult:
    """What one snapshot wrote."""

    cluster: str
    nodes_seen: int
    added: int
    changed: int
    gone: int
    returned: int
    change_rows: int


def ensure_cluster(session: Session, name: str, *, server: str | None = None, at: datetime) -> Cluster:
    """The cluster row for ``name``, created on first sight."""
    cluster = session.exec(select(Cluster).where(Cluster.name == name)).one_or_none()
    if cluster is None:
        cluster = Cluster(name=name, server=server, created_at=at)
        session.add(cluster)
        session.flush()
    elif server is not None and cluster.server != server:
        cluster.server = server
    return cluster


def record_snapshot(
    session: Session,
    cluster_name: str,
    nodes: Sequence[NodeFacts],
    *,
    at: datetime,
    complete: bool = True,
    server: str | None = None,
) -> SnapshotResult:
    """Record a snapshot of ``cluster_name``'s nodes, writing only what changed.

    ``complete=False`` (a collection that hit errors) records the nodes it has but marks
    nobody gone, so a partial read never looks like nodes disappearing.
    """
    _reject_duplicate_names(cluster_name, nodes)
    cluster = ensure_cluster(session, cluster_name, server=server, at=at)
    assert cluster.id is not None
    known = {
        row.name: row
        for row in session.execute(
            sa.select(col(Node.id), col(Node.name), col(Node.gone_at), col(NodeState.digest))
            .outerjoin(NodeState, col(NodeState.node_id) == col(Node.id))
            .where(col(Node.cluster_id) == cluster.id)
        )
    }
    new_nodes = [f for f in nodes if f.name not in known]
    digests = {f.name: f.digest() for f in nodes}
    changed = [f for f in nodes if f.name in known and known[f.name].digest != digests[f.name]]
    returned = [f for f in nodes if f.name in known and known[f.name].gone_at is not None]
    seen = {f.name for f in nodes}
    gone = [row for name, row in known.items() if complete and name not in seen and row.gone_at is None]

    changes: list[dict[str, Any]] = []
    if new_nodes:
        ids = _insert_nodes(session, cluster.id, new_nodes, at)
        session.execute(
            sa.insert(NodeState),
            [_state_row(ids[f.name], f, digests[f.name], at) for f in new_nodes],
        )
        changes += [_change(ids[f.name], at, PRESENCE, None, "present") for f in new_nodes]
    if changed:
        old = _load_fact_text(session, [known[f.name].id for f in changed])
        for f in changed:
            node_id = known[f.name].id
            changes += [_change(node_id, at, c.fact, c.old, c.new) for c in diff_facts(old[node_id], f.fact_items())]
        session.execute(sa.update(NodeState), [_state_row(known[f.name].id, f, digests[f.name], at) for f in changed])
    if returned:
        session.execute(sa.update(Node), [{"id": known[f.name].id, "gone_at": None} for f in returned])
        changes += [_change(known[f.name].id, at, PRESENCE, "gone", "present") for f in returned]
    if gone:
        session.execute(sa.update(Node), [{"id": row.id, "gone_at": at} for row in gone])
        changes += [_change(row.id, at, PRESENCE, "present", "gone") for row in gone]
    uid_updates = [{"id": known[f.name].id, "uid": f.uid} for f in changed if f.uid]
    if uid_updates:
        session.execute(sa.update(Node), uid_updates)
    if changes:
        session.execute(sa.insert(NodeChange), changes)
    cluster.last_collected_at = at
    session.add(cluster)
    session.flush()
    return SnapshotResult(
        cluster=cluster_name,
        nodes_seen=len(nodes),
        added=len(new_nodes),
        changed=len(changed),
        gone=len(gone),
        returned=len(returned),
        change_rows=len(changes),
    )


def _reject_duplicate_names(cluster: str, nodes: Iterable[NodeFacts]) -> None:
    names: set[str] = set()
    for f in nodes:
        if f.name in names:
            raise ValueError(f"snapshot of cluster {cluster!r} names node {f.name!r} twice")
        names.add(f.name)


def _insert_nodes(session: Session, cluster_id: int, nodes: Sequence[NodeFacts], at: datetime) -> dict[str, int]:
    rows = [{"cluster_id": cluster_id, "name": f.name, "uid": f.uid, "first_seen": at} for f in nodes]
    result = session.execute(sa.insert(Node).returning(col(Node.id), col(Node.name)), rows)
    return {name: node_id for node_id, name in result}


def _state_row(node_id: int, facts: NodeFacts, digest: str, at: datetime) -> dict[str, Any]:
    row: dict[str, Any] = {"node_id": node_id, "digest": digest, "changed_at": at}
    for name in FACT_NAMES:
        value = getattr(facts, name)
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        row[name] = value
    return row


def _load_fact_text(session: Session, node_ids: list[int]) -> dict[int, dict[str, str | None]]:
    columns = [col(getattr(NodeState, name)) for name in FACT_NAMES]
    out: dict[int, dict[str, str | None]] = {}
    for i in range(0, len(node_ids), _CHUNK):
        chunk = node_ids[i : i + _CHUNK]
        for row in session.execute(
            sa.select(col(NodeState.node_id), *columns).where(col(NodeState.node_id).in_(chunk))
        ):
            out[row[0]] = {name: render_fact(value) for name, value in zip(FACT_NAMES, row[1:], strict=True)}
    return out


def _change(node_id: int, at: datetime, fact: str, old: str | None, new: str | None) -> dict[str, Any]:
    return {"node_id": node_id, "at": at, "fact": fact, "old": old, "new": new}
