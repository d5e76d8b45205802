"""Reads for health, versions, describe and history: short transactions, typed rows out
(``fleetctl.output`` makes their JSON)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlmodel import col

from store.engine import Store
from store.events import recent_events
from store.models import (
    Cluster,
    HealthCheck,
    HealthTransition,
    Node,
    NodeChange,
    NodeEvent,
    NodeState,
    NodeStep,
    Release,
)
from store.query.compiler import compile_query, in_cluster, nodes_select
from store.versions import KataVersion


def _node_ids(store: Store, where: str | None, now: datetime, cluster: str | None) -> sa.Select[Any]:
    query = nodes_select().with_only_columns(col(Node.id)).where(*in_cluster(cluster))
    if where:
        query = query.where(compile_query(where, dialect=store.backend, now=now))
    return query


class CheckRow(NamedTuple):
    """One current health check of one node."""

    node: str
    cluster: str
    code: str
    status: str
    value: float | None
    message: str
    remediation: str | None
    since: datetime


class VersionRow(NamedTuple):
    """How many nodes run one Kata release x arch x guest kernel, and how far behind the newest release."""

    kata: str | None
    arch: str | None
    guest_kernel: str | None
    custom_kernel: bool | None
    nodes: int
    behind_latest: int | None  # None: no release, or not a release version


class ChangeRow(NamedTuple):
    """One changed fact of one node."""

    at: datetime
    node: str
    cluster: str
    fact: str
    old: str | None
    new: str | None


def read_checks(store: Store, *, where: str | None, now: datetime, cluster: str | None = None) -> list[CheckRow]:
    """Every current check of the matching nodes (of one ``cluster`` when given)."""
    ids = _node_ids(store, where, now, cluster)
    with store.read() as session:
        rows = session.execute(
            sa.select(col(Node.name), col(Cluster.name), HealthCheck)
            .join(Node, col(Node.id) == col(HealthCheck.node_id))
            .join(Cluster, col(Cluster.id) == col(Node.cluster_id))
            .where(col(HealthCheck.node_id).in_(ids))
            .order_by(col(Cluster.name), col(Node.name), col(HealthCheck.code))
        ).all()
    return [
        CheckRow(name, cluster, c.code, c.status, c.value, c.message, c.remediation, c.since)
        for name, cluster, c in rows
    ]


def read_versions(store: Store, *, where: str | None, now: datetime, cluster: str | None = None) -> list[VersionRow]:
    """Node counts per Kata release x arch x guest kernel, with how many releases each is behind
    (of one ``cluster`` when given)."""
    ids = _node_ids(store, where, now, cluster)
    with store.read() as session:
        rows = session.execute(
            sa.select(
                col(NodeState.kata_version),
                col(NodeState.arch),
                col(NodeState.guest_kernel),
                col(NodeState.custom_kernel),
                sa.func.count(),
            )
            .where(col(NodeState.node_id).in_(ids))
            .group_by(
                col(NodeState.kata_version),
                col(NodeState.arch),
                col(NodeState.guest_kernel),
                col(NodeState.custom_kernel),
            )
        ).all()
        releases = [
            r for (r,) in session.execute(sa.select(col(Release.version)).where(col(Release.prerelease).is_(False)))
        ]
    known = sorted(KataVersion.parse(r) for r in releases)
    out = []
    for version, arch, kernel, custom, count in rows:
        behind: int | None = None
        if version:
            try:
                v = KataVersion.parse(version)
                behind = sum(1 for r in known if r > v)
            except ValueError:
                behind = None
        out.append(VersionRow(version, arch, kernel, custom, int(count), behind))
    out.sort(
        key=lambda r: (KataVersion.parse(r.kata).sort_key() if r.kata else "", r.arch or "", r.guest_kernel or ""),
        reverse=True,
    )
    return out


class StaleSummary(NamedTuple):
    """Stale sandboxes over a set of nodes (``stale_summary``)."""

    nodes: int  # nodes with stale_sandboxes > 0
    sandboxes: int  # their stale sandboxes, summed
    unknown: int  # nodes whose count is unknown, or that are not (or no longer) in the store


def stale_summary(store: Store, nodes: Sequence[tuple[str, str]] | None = None) -> StaleSummary:
    """How many of the ``(cluster, node)`` nodes (every present node when None) still run Kata sandboxes
    started before their last install, and how many sandboxes that is; unknown counts are never 0."""
    query = (
        sa.select(col(Cluster.name), col(Node.name), col(NodeState.stale_sandboxes))
        .join(Node, col(Node.cluster_id) == col(Cluster.id))
        .join(NodeState, col(NodeState.node_id) == col(Node.id))
        .where(col(Node.gone_at).is_(None))
    )
    wanted = None if nodes is None else set(nodes)
    if wanted is not None:
        query = query.where(col(Cluster.name).in_(sorted({cluster for cluster, _ in wanted})))
    with store.read_connection() as conn:
        counts = {(c, n): stale for c, n, stale in conn.execute(query) if wanted is None or (c, n) in wanted}
    known = [v for v in counts.values() if v is not None]
    missing = 0 if wanted is None else len(wanted - counts.keys())
    return StaleSummary(sum(1 for v in known if v > 0), sum(known), len(counts) - len(known) + missing)


def read_history(store: Store, *, node: str | None, cluster: str | None, since: datetime) -> list[ChangeRow]:
    """Fact changes since ``since``, newest first, for one node or all."""
    query = (
        sa.select(col(Node.name), col(Cluster.name), NodeChange)
        .join(Node, col(Node.id) == col(NodeChange.node_id))
        .join(Cluster, col(Cluster.id) == col(Node.cluster_id))
        .where(col(NodeChange.at) >= since)
        .order_by(col(NodeChange.at).desc(), col(NodeChange.id).desc())
        .limit(10_000)
    )
    if node:
        query = query.where(col(Node.name) == node)
    if cluster:
        query = query.where(col(Cluster.name) == cluster)
    with store.read() as session:
        rows = session.execute(query).all()
    return [ChangeRow(c.at, n, cl, c.fact, c.old, c.new) for n, cl, c in rows]


@dataclass(frozen=True)
class NodeReport:
    """Everything the store knows of one node: what ``describe node`` and the dashboard's node view show."""

    node: Node
    state: NodeState
    cluster: str
    checks: list[HealthCheck]
    changes: list[NodeChange]  # newest first
    transitions: list[HealthTransition]  # newest first
    events: list[NodeEvent]  # newest first
    step: NodeStep | None  # its latest upgrade step


REPORT_HISTORY = 20  # changes and health transitions in a report
REPORT_EVENTS = 15


def read_node(store: Store, name: str, cluster: str | None) -> list[NodeReport]:
    """Everything about nodes named ``name`` (one per cluster unless ``cluster`` is given)."""
    query = (
        sa.select(Node, NodeState, Cluster)
        .join(NodeState, col(NodeState.node_id) == col(Node.id))
        .join(Cluster, col(Cluster.id) == col(Node.cluster_id))
        .where(col(Node.name) == name)
    )
    if cluster:
        query = query.where(col(Cluster.name) == cluster)
    out = []
    with store.read() as session:
        for node, state, cl in session.execute(query).all():
            newest = {
                model: list(
                    session.execute(
                        sa.select(model)
                        .where(col(model.node_id) == node.id)
                        .order_by(col(model.at).desc())
                        .limit(REPORT_HISTORY)
                    ).scalars()
                )
                for model in (NodeChange, HealthTransition)
            }
            step = (
                session.execute(
                    sa.select(NodeStep)
                    .where(col(NodeStep.node_id) == node.id)
                    .order_by(col(NodeStep.updated_at).desc())
                )
                .scalars()
                .first()
            )
            checks = session.execute(
                sa.select(HealthCheck).where(col(HealthCheck.node_id) == node.id).order_by(col(HealthCheck.code))
            ).scalars()
            out.append(
                NodeReport(
                    node, state, cl.name, list(checks), newest[NodeChange], newest[HealthTransition],
                    recent_events(session, node.id or 0, limit=REPORT_EVENTS), step,
                )
            )  # fmt: skip
    return out
