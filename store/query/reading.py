"""Reading nodes for the on-call commands: one query, one short read transaction, plain dicts out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from store.checks import Status
from store.engine import Store
from store.errors import BadInputError
from store.models import Cluster, HealthCheck
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


def read_nodes(
    store: Store, *, where: str | None, selector: str | None, now: datetime, sort_by: str = "name"
) -> NodeAnswer:
    """Present nodes matching ``where`` (the query language) and ``selector`` (a label selector)."""
    if sort_by not in SORT_KEYS:
        raise BadInputError(f"cannot sort by {sort_by!r}", where="--sort-by", hint=f"use one of {', '.join(SORT_KEYS)}")
    query = nodes_select()
    for text in (where, selector_to_query(selector) if selector else None):
        if text:
            query = query.where(compile_query(text, dialect=store.backend, now=now))
    with store.read() as session:
        rows = session.execute(query).all()
        ids = [node.id for node, _, _ in rows]
        worst: dict[int, Status] = {}
        for i in range(0, len(ids), 1000):
            for node_id, status in session.execute(
                sa.select(col(HealthCheck.node_id), col(HealthCheck.status)).where(
                    col(HealthCheck.node_id).in_(ids[i : i + 1000])
                )
            ):
                current = worst.get(node_id)
                s = Status(status)
                if current is None or s.rank > current.rank:
                    worst[node_id] = s
        clusters = {c.name: c.last_collected_at for c in session.execute(sa.select(Cluster)).scalars()}
    items = [_item(node, state, cluster, worst.get(node.id), now) for node, state, cluster in rows]
    items.sort(key=_sort_key(sort_by))
    used = {i["cluster"] for i in items} or set(clusters)
    return NodeAnswer(items, {c: clusters.get(c) for c in used})


def _item(node: Any, st: Any, cluster: Any, worst: Status | None, now: datetime) -> dict[str, Any]:
    return {
        "name": node.name,
        "cluster": cluster.name,
        "arch": st.arch,
        "zone": st.zone,
        "region": st.region,
        "kata": {
            "version": st.kata_version,
            "deployVersion": st.kata_deploy_version,
            "commit": st.kata_commit,
            "label": st.kata_label,
        },
        "guestKernel": st.guest_kernel,
        "customKernel": st.custom_kernel,
        "hypervisor": {"name": st.hypervisor, "version": st.hypervisor_version, "machineType": st.machine_type},
        "hostKernel": st.host_kernel,
        "osImage": st.os_image,
        "containerRuntime": st.container_runtime,
        "kubelet": st.kubelet_version,
        "ready": st.ready,
        "cordoned": st.unschedulable,
        "cpu": (st.cpu_capacity or 0) / 1000,
        "runtimeHandlers": list(st.runtime_handlers or []),
        "drift": list(st.drift or []),
        "parseProblems": list(st.parse_problems or []),
        "health": (worst or Status.UNKNOWN).value,
        "firstSeen": node.first_seen.isoformat(),
        "changedAt": st.changed_at.isoformat(),
        "_sort": st.kata_version_sort or "",
        "_age": (now - node.first_seen).total_seconds(),
    }


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
