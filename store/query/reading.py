"""Reading nodes for the on-call commands: one query, one short read transaction, plain dicts out."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from store.checks import Status
from store.engine import Store
from store.errors import BadInputError
from store.models import Cluster, HealthCheck, Node, NodeState
from store.query.compiler import compile_query, nodes_select
from store.query.selector import selector_to_query

SORT_KEYS = ("name", "cluster", "arch", "zone", "kata", "health", "cpu", "age")


@dataclass(frozen=True)
class NodeAnswer:
    """The nodes that matched, and how fresh the data is."""

    items: list[dict[str, Any]]
    collected_at: dict[str, datetime | None]  # per cluster

    def oldest(self) -> datetime | None:
        """The oldest collection among the clusters answered from (None: never collected)."""
        stamps = list(self.collected_at.values())
        if not stamps or any(s is None for s in stamps):
            return None
        return min(s for s in stamps if s is not None)


_STATE_COLUMNS = (
    "arch", "zone", "region", "kata_version", "kata_deploy_version", "kata_commit", "kata_label", "kata_version_sort",
    "guest_kernel", "custom_kernel", "hypervisor", "hypervisor_version", "machine_type", "host_kernel", "os_image",
    "container_runtime", "kubelet_version", "ready", "unschedulable", "cpu_capacity", "runtime_handlers", "drift",
    "parse_problems", "changed_at",
)  # fmt: skip
_JSON_COLUMNS = {"runtime_handlers", "drift", "parse_problems"}  # read as text; most are "[]"
_RANKS = {s.value: s.rank for s in Status}
_BY_RANK = {s.rank: s.value for s in Status}


def read_nodes(
    store: Store, *, where: str | None, selector: str | None, now: datetime, sort_by: str = "name"
) -> NodeAnswer:
    """Present nodes matching ``where`` (the query language) and ``selector`` (a label selector).

    Plain columns through SQLAlchemy Core, not ORM objects, and the worst health of all matching
    nodes in one grouped query: at 10,000 nodes the object building would cost more than the SQL.
    """
    if sort_by not in SORT_KEYS:
        raise BadInputError(f"cannot sort by {sort_by!r}", where="--sort-by", hint=f"use one of {', '.join(SORT_KEYS)}")
    conditions = [
        compile_query(text, dialect=store.backend, now=now)
        for text in (where, selector_to_query(selector) if selector else None)
        if text
    ]
    base = nodes_select().where(*conditions)
    columns = [col(Node.id), col(Node.name), col(Node.first_seen), col(Cluster.name).label("cluster_name")]
    columns += [
        sa.type_coerce(getattr(NodeState, c), sa.Text).label(c) if c in _JSON_COLUMNS else getattr(NodeState, c)
        for c in _STATE_COLUMNS
    ]
    rank = sa.case(_RANKS, value=col(HealthCheck.status), else_=1)
    worst_q = (
        sa.select(col(HealthCheck.node_id), sa.func.max(rank))
        .where(col(HealthCheck.node_id).in_(base.with_only_columns(col(Node.id))))
        .group_by(col(HealthCheck.node_id))
    )
    with store.read_connection() as conn:
        rows = conn.execute(base.with_only_columns(*columns)).all()
        worst: dict[int, int] = dict(conn.execute(worst_q).tuples().all())
        clusters = dict(conn.execute(sa.select(col(Cluster.name), col(Cluster.last_collected_at))).tuples().all())
    items = [_item(row, _BY_RANK.get(worst.get(row.id, 1), "unknown"), now) for row in rows]
    items.sort(key=_sort_key(sort_by))
    used = {i["cluster"] for i in items} or set(clusters)
    return NodeAnswer(items, {c: clusters.get(c) for c in used})


def _item(r: Any, health: str, now: datetime) -> dict[str, Any]:
    return {
        "name": r.name,
        "cluster": r.cluster_name,
        "arch": r.arch,
        "zone": r.zone,
        "region": r.region,
        "kata": {
            "version": r.kata_version,
            "deployVersion": r.kata_deploy_version,
            "commit": r.kata_commit,
            "label": r.kata_label,
        },
        "guestKernel": r.guest_kernel,
        "customKernel": r.custom_kernel,
        "hypervisor": {"name": r.hypervisor, "version": r.hypervisor_version, "machineType": r.machine_type},
        "hostKernel": r.host_kernel,
        "osImage": r.os_image,
        "containerRuntime": r.container_runtime,
        "kubelet": r.kubelet_version,
        "ready": r.ready,
        "cordoned": r.unschedulable,
        "cpu": (r.cpu_capacity or 0) / 1000,
        "runtimeHandlers": _json_list(r.runtime_handlers),
        "drift": _json_list(r.drift),
        "parseProblems": _json_list(r.parse_problems),
        "health": health,
        "firstSeen": r.first_seen.isoformat(),
        "changedAt": r.changed_at.isoformat(),
        "_sort": r.kata_version_sort or "",
        "_age": (now - r.first_seen).total_seconds(),
    }


def _json_list(value: Any) -> list[Any]:
    """A JSON list column read as text (SQLite) or already decoded (PostgreSQL's driver decodes json)."""
    if not value or value == "[]":
        return []
    if isinstance(value, list):
        return value
    decoded = json.loads(value)
    return decoded if isinstance(decoded, list) else []


def _sort_key(field: str) -> Any:
    ranks = {s.value: s.rank for s in Status}
    keys: dict[str, Any] = {
        "name": lambda i: (i["cluster"], i["name"]),
        "cluster": lambda i: (i["cluster"], i["name"]),
        "arch": lambda i: (i["arch"] or "", i["name"]),
        "zone": lambda i: (i["zone"] or "", i["name"]),
        "kata": lambda i: (i["_sort"], i["name"]),
        "health": lambda i: (-ranks[i["health"]], i["name"]),
        "cpu": lambda i: (i["cpu"], i["name"]),
        "age": lambda i: (-i["_age"], i["name"]),
    }
    return keys[field]


def public(items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Items without the private sort helpers."""
    return [{k: v for k, v in i.items() if not k.startswith("_")} for i in items]
