"""Reading nodes for the on-call commands: one query, one short read transaction, ``NodeRow``s out.

The statement is plain SQL (``store.query.sql``), run by a ``Reader``: the ``Store`` (SQLAlchemy, both
databases) or a ``SqliteReader`` (the standard library, for the CLI's fast start). Rows are typed,
snake_case and undecorated; ``fleetctl.output.node_item`` is the one place that turns a row into the
camelCase JSON item of ``nodes -o json``.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from store.checks import Status
from store.errors import BadInputError
from store.query.selector import selector_to_query
from store.query.sql import RANK, Sql, compile_sql, in_cluster_sql

SORT_KEYS = ("name", "cluster", "arch", "zone", "kata", "health", "cpu", "age")


class Reader(Protocol):
    """What the reads need of a store: its backend, and statements run in one read transaction."""

    @property
    def backend(self) -> str: ...

    def fetch(self, *statements: tuple[str, Mapping[str, Any]]) -> list[Sequence[Sequence[Any]]]: ...


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


class HealthReason(NamedTuple):
    """Why a node is not ok: the checks at its worst status, and the first one's message."""

    checks: tuple[str, ...]
    message: str


NEVER_CHECKED = HealthReason((), "no health check has run on this node yet")


@dataclass(frozen=True)
class NodeAnswer:
    """The nodes that matched, and how fresh the data is."""

    items: list[NodeRow]
    collected_at: dict[str, datetime | None]  # per cluster
    reasons: dict[tuple[str, str], HealthReason] = field(default_factory=dict)
    """With ``read_nodes(reasons=True)``: per (cluster, node) not ok, why (a node never checked is
    absent, and reads as ``NEVER_CHECKED``)."""

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
_WORST = (
    "(SELECT MAX(CASE health_check.status "
    + " ".join(f"WHEN '{s}' THEN {r}" for s, r in RANK.items())
    + " ELSE 1 END) FROM health_check WHERE health_check.node_id = node.id)"
)  # the check table's primary key prefix answers it; statuses are our constants, not input
_FRESHNESS: tuple[str, Mapping[str, Any]] = ("SELECT name, last_collected_at FROM cluster", {})
_FAILING = (
    "SELECT cluster.name, node.name, health_check.code, health_check.status, health_check.message "
    "FROM health_check JOIN node ON node.id = health_check.node_id JOIN cluster ON cluster.id = node.cluster_id "
    "WHERE node.gone_at IS NULL AND health_check.status != 'ok'"
)


def _base(sql: Sql) -> str:
    """Present nodes with their state, cluster and worst health; JSON lists come back as text
    (on PostgreSQL a cast, so the driver does not decode 10,000 lists that are mostly "[]")."""
    state = ", ".join(
        f"{sql.text_of('node_state.' + c)} AS {c}" if c in _JSON_COLUMNS else f"node_state.{c}" for c in _STATE_COLUMNS
    )
    return (
        f"SELECT node.name, node.first_seen, cluster.name AS cluster_name, {state}, {_WORST} AS worst "
        "FROM node JOIN node_state ON node_state.node_id = node.id JOIN cluster ON cluster.id = node.cluster_id "
        "WHERE node.gone_at IS NULL"
    )


def cluster_names(store: Reader) -> set[str]:
    """The clusters the store has collected, or been told of."""
    (rows,) = store.fetch(_FRESHNESS)
    return {name for name, _ in rows}


def utc(value: Any) -> datetime:
    """A stored time as an aware UTC datetime (SQLite's text, or a driver's datetime)."""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def read_nodes(
    store: Reader,
    *,
    where: str | None,
    selector: str | None,
    now: datetime,
    sort_by: str = "name",
    cluster: str | None = None,
    reasons: bool = False,
) -> NodeAnswer:
    """Present nodes matching ``where`` (the query language) and ``selector`` (a label selector),
    of one ``cluster`` when given, with why each is not ok when ``reasons``.

    One statement (each node's worst health from the check table's primary key), one for
    freshness and, with ``reasons``, one for the failing checks, in one short read transaction;
    at 10,000 nodes, building ORM objects would cost more than the SQL.
    """
    if sort_by not in SORT_KEYS:
        raise BadInputError(f"cannot sort by {sort_by!r}", where="--sort-by", hint=f"use one of {', '.join(SORT_KEYS)}")
    sql = Sql(store.backend)
    texts = [t for t in (where, selector_to_query(selector) if selector else None) if t]
    conditions = [compile_sql(t, sql, now=now) for t in texts] + in_cluster_sql(cluster, sql)
    statement = " AND ".join([_base(sql), *conditions])
    statements = [(statement, sql.params), _FRESHNESS]
    if reasons:
        failing = Sql(store.backend)
        scope = " AND ".join([_FAILING, *in_cluster_sql(cluster, failing)])
        statements.append((scope + " ORDER BY cluster.name, node.name, health_check.code", failing.params))
    build = _ItemBuilder(now)
    # Thousands of rows, then tuples, none of them in a cycle: a full collection here is pure cost.
    with _gc_paused():
        rows, fresh, *checks = store.fetch(*statements)
        clusters = {name: None if at is None else utc(at) for name, at in fresh}
        items = [build(row) for row in rows]
        items.sort(key=_sort_key(sort_by))
    used = {i.cluster for i in items} or ({cluster} if cluster else set(clusters))
    return NodeAnswer(items, {c: clusters.get(c) for c in used}, _worst_reasons(checks[0]) if checks else {})


def _worst_reasons(rows: Sequence[Sequence[Any]]) -> dict[tuple[str, str], HealthReason]:
    """Failing checks, ordered by node and code, to each node's checks at its worst status."""
    worst: dict[tuple[str, str], tuple[int, list[str], str]] = {}
    for cluster, node, code, status, message in rows:
        key, rank = (cluster, node), RANK.get(status, 1)
        seen = worst.get(key)
        if seen is None or rank > seen[0]:
            worst[key] = (rank, [code], message)
        elif rank == seen[0]:
            seen[1].append(code)
    return {key: HealthReason(tuple(codes), message) for key, (_, codes, message) in worst.items()}


@contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _ItemBuilder:
    """Rows to ``NodeRow``s. Collected rows repeat their values (a few drift messages, one
    collection's timestamps), so decoded JSON and times are memoised for one answer."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._json: dict[str, tuple[str, ...]] = {}
        self._times: dict[Any, datetime] = {}

    def _list(self, value: Any) -> tuple[str, ...]:
        if not value or value == "[]":
            return ()
        if isinstance(value, list):  # a driver that decodes JSON itself
            return tuple(str(v) for v in value)
        decoded = self._json.get(value)
        if decoded is None:
            loaded = json.loads(value)
            decoded = self._json[value] = tuple(str(v) for v in loaded) if isinstance(loaded, list) else ()
        return decoded

    def _when(self, value: Any) -> datetime:
        when = self._times.get(value)
        if when is None:
            when = self._times[value] = utc(value)
        return when

    def __call__(self, row: Sequence[Any]) -> NodeRow:
        (name, first_seen, cluster, arch, zone, region, kata, deploy, commit, label, sort, guest, custom,
         hypervisor, hv_version, machine, host, os_image, runtime, kubelet, ready, cordoned, cpu, stale,
         handlers, drift, problems, changed_at, worst) = row  # fmt: skip
        first = self._when(first_seen)
        return NodeRow(
            name, cluster, arch, zone, region, kata, deploy, commit, label, sort or "", guest,
            None if custom is None else bool(custom), hypervisor, hv_version, machine, host, os_image, runtime,
            kubelet, None if ready is None else bool(ready), bool(cordoned), (cpu or 0) / 1000, stale,
            self._list(handlers), self._list(drift), self._list(problems),
            _BY_RANK.get(1 if worst is None else worst, Status.UNKNOWN), first, self._when(changed_at),
            (self.now - first).total_seconds(),
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
