"""Reading nodes for the on-call commands: one query, one short read transaction, ``NodeRow``s out.

Rows are typed, snake_case and undecorated; ``fleetctl.output.node_item`` is the one place that
turns a row into the camelCase JSON item of ``nodes -o json``.
"""

from __future__ import annotations

import functools
import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlmodel import SQLModel

from store.checks import Status
from store.engine import Store
from store.errors import BadInputError
from store.models import Cluster, HealthCheck, Node, NodeState
from store.query.compiler import compile_query, depends_on_time, in_cluster
from store.query.selector import selector_to_query

SORT_KEYS = ("name", "cluster", "arch", "zone", "kata", "health", "cpu", "age")


class NodeRow(NamedTuple):
    """One present node as the on-call commands, the dashboard and the planner read it (a typed
    tuple: building 10,000 of them costs a third of what frozen dataclasses would)."""

    name: str
    cluster: str
    arch: str | None
    zone: str | None
    region: str | None
    kata_version: str | None
    kata_deploy_version: str | None
    kata_commit: str | None
    kata_label: str | None
    kata_sort: str  # KataVersion.sort_key(), "" when unknown: sorts releases in release order
    guest_kernel: str | None
    custom_kernel: bool | None
    hypervisor: str | None
    hypervisor_version: str | None
    machine_type: str | None
    host_kernel: str | None
    os_image: str | None
    container_runtime: str | None
    kubelet: str | None
    ready: bool | None
    cordoned: bool
    cpu: float  # cores
    stale_sandboxes: int | None  # Running Kata pods started before the node's last install; None: unknown
    runtime_handlers: tuple[str, ...]
    drift: tuple[str, ...]
    parse_problems: tuple[str, ...]
    health: Status  # the worst check; unknown without any
    first_seen: datetime
    changed_at: datetime
    age_s: float  # seconds since first seen, at the answer's time


@dataclass(frozen=True)
class NodeAnswer:
    """The nodes that matched, and how fresh the data is."""

    items: list[NodeRow]
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
    "container_runtime", "kubelet_version", "ready", "unschedulable", "cpu_capacity", "stale_sandboxes",
    "runtime_handlers", "drift", "parse_problems", "changed_at",
)  # fmt: skip
_JSON_COLUMNS = {"runtime_handlers", "drift", "parse_problems"}  # read as text; most are "[]"
_BY_RANK = {s.rank: s for s in Status}
# Core table columns, not ORM attributes: SQLAlchemy then has nothing to adapt on each execution.
_NODE, _STATE, _CLUSTER, _CHECK = (
    SQLModel.metadata.tables[m.__tablename__].c for m in (Node, NodeState, Cluster, HealthCheck)
)
_WORST = (
    sa.select(sa.func.max(sa.case({s.value: s.rank for s in Status}, value=_CHECK.status, else_=1)))
    .where(_CHECK.node_id == _NODE.id)
    .scalar_subquery()
)


@functools.cache
def _base(dialect: str) -> sa.Select[Any]:
    """Present nodes with their state, cluster and worst health; JSON lists come back as text
    (on PostgreSQL a cast, so the driver does not decode 10,000 lists that are mostly "[]")."""

    def text(column: Any) -> Any:
        return sa.cast(column, sa.Text) if dialect == "postgresql" else sa.type_coerce(column, sa.Text)

    columns = [
        _NODE.id, _NODE.name, _NODE.first_seen, _CLUSTER.name.label("cluster_name"),
        *(text(_STATE[c]).label(c) if c in _JSON_COLUMNS else _STATE[c] for c in _STATE_COLUMNS),
        _WORST.label("worst"),
    ]  # fmt: skip
    joined = _NODE.id.table.join(_STATE.node_id.table, _STATE.node_id == _NODE.id).join(
        _CLUSTER.id.table, _CLUSTER.id == _NODE.cluster_id
    )
    return sa.select(*columns).select_from(joined).where(_NODE.gone_at.is_(None))


_FRESHNESS = sa.select(_CLUSTER.name, _CLUSTER.last_collected_at)


def cluster_names(store: Store) -> set[str]:
    """The clusters the store has collected, or been told of."""
    with store.read_connection() as conn:
        return {name for name, _ in conn.execute(_FRESHNESS)}


def read_nodes(
    store: Store,
    *,
    where: str | None,
    selector: str | None,
    now: datetime,
    sort_by: str = "name",
    cluster: str | None = None,
) -> NodeAnswer:
    """Present nodes matching ``where`` (the query language) and ``selector`` (a label selector),
    of one ``cluster`` when given.

    One statement (plain columns through SQLAlchemy Core, each node's worst health from the
    check table's primary key) and one for freshness, in one short read transaction. The select
    is built once; at 10,000 nodes, building ORM objects would cost more than the SQL.
    """
    if sort_by not in SORT_KEYS:
        raise BadInputError(f"cannot sort by {sort_by!r}", where="--sort-by", hint=f"use one of {', '.join(SORT_KEYS)}")
    texts = tuple(t for t in (where, selector_to_query(selector) if selector else None) if t)
    if any(depends_on_time(t) for t in texts):
        statement = _base(store.backend).where(*(compile_query(t, dialect=store.backend, now=now) for t in texts))
    else:
        statement = _timeless_statement(texts, store.backend)
    if cluster is not None:
        statement = statement.where(*in_cluster(cluster))
    build = _ItemBuilder(now)
    # Thousands of rows, then dicts, none of them in a cycle: a full collection here is pure cost.
    with _gc_paused():
        with store.read_connection() as conn:
            rows = conn.execute(statement).all()
            clusters: dict[str, datetime | None] = dict(conn.execute(_FRESHNESS).all())
        items = [build(row) for row in rows]
        items.sort(key=_sort_key(sort_by))
    used = {i.cluster for i in items} or ({cluster} if cluster else set(clusters))
    return NodeAnswer(items, {c: clusters.get(c) for c in used})


@contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@functools.lru_cache(maxsize=128)
def _timeless_statement(texts: tuple[str, ...], dialect: str) -> sa.Select[Any]:
    """The same statement object for a repeated query: SQLAlchemy then reuses its cache key
    and compiled form as they are (a script or the TUI's filter asks the same question often)."""
    epoch = datetime.min  # unused: the query does not depend on the time
    return _base(dialect).where(*(compile_query(t, dialect=dialect, now=epoch) for t in texts))


class _ItemBuilder:
    """Rows to ``NodeRow``s. Collected rows repeat their values (a few drift messages), so
    decoded JSON is memoised for one answer."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._json: dict[str, tuple[str, ...]] = {}

    def _list(self, value: Any) -> tuple[str, ...]:
        if not value or value == "[]":
            return ()
        if isinstance(value, list):  # PostgreSQL's driver decodes json itself
            return tuple(str(v) for v in value)
        decoded = self._json.get(value)
        if decoded is None:
            loaded = json.loads(value)
            decoded = self._json[value] = tuple(str(v) for v in loaded) if isinstance(loaded, list) else ()
        return decoded

    def __call__(self, row: Any) -> NodeRow:
        (_, name, first_seen, cluster, arch, zone, region, kata, deploy, commit, label, sort, guest, custom,
         hypervisor, hv_version, machine, host, os_image, runtime, kubelet, ready, cordoned, cpu, stale,
         handlers, drift, problems, changed_at, worst) = row  # fmt: skip
        return NodeRow(
            name, cluster, arch, zone, region, kata, deploy, commit, label, sort or "", guest, custom, hypervisor,
            hv_version, machine, host, os_image, runtime, kubelet, ready, bool(cordoned), (cpu or 0) / 1000, stale,
            self._list(handlers), self._list(drift), self._list(problems),
            _BY_RANK.get(1 if worst is None else worst, Status.UNKNOWN), first_seen, changed_at,
            (self.now - first_seen).total_seconds(),
        )  # fmt: skip


def _sort_key(field: str) -> Any:
    keys: dict[str, Any] = {
        "name": lambda i: (i.cluster, i.name),
        "cluster": lambda i: (i.cluster, i.name),
        "arch": lambda i: (i.arch or "", i.name),
        "zone": lambda i: (i.zone or "", i.name),
        "kata": lambda i: (i.kata_sort, i.name),
        "health": lambda i: (-i.health.rank, i.name),
        "cpu": lambda i: (i.cpu, i.name),
        "age": lambda i: (-i.age_s, i.name),
    }
    return keys[field]
