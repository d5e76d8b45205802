"""Compiling a parsed query to a SQLAlchemy condition over node, node_state and cluster.

Every value becomes a bound parameter; nothing from the query is pasted into SQL text.
Versions compare in release order through ``node_state.kata_version_sort``, so ``kata < 4.0``
means every release before 4.0.0 (3.32.0 included, 4.0.0-rc0 too). ``kata = 4.0`` matches
any 4.0.x. Health is a node's worst current check, where "never checked" counts as unknown.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import SQLModel, col

from store.arch import normalize_arch
from store.checks import Status
from store.durations import parse_duration
from store.errors import BadInputError
from store.models import Cluster, HealthCheck, Node, NodeChange, NodeState
from store.query.parser import BoolOp, ChangedWithin, Compare, Flag, InList, Not, QuerySyntaxError, draw_error, parse
from store.query.parser import Node as Ast
from store.versions import KataVersion

Cond = ColumnElement[bool]

# Core table columns, not ORM attributes: a condition built from them keeps the statement Core,
# which SQLAlchemy executes without an ORM compile step.
_NODE, _STATE, _CLUSTER, _CHANGE, _CHECK = (
    SQLModel.metadata.tables[m.__tablename__].c for m in (Node, NodeState, Cluster, NodeChange, HealthCheck)
)
STRING_FIELDS: dict[str, Any] = {
    "name": _NODE.name,
    "cluster": _CLUSTER.name,
    "arch": _STATE.arch,
    "zone": _STATE.zone,
    "region": _STATE.region,
    "kata.deploy": _STATE.kata_deploy_version,
    "kernel.guest": _STATE.guest_kernel,
    "kernel.host": _STATE.host_kernel,
    "hypervisor": _STATE.hypervisor,
    "hypervisor.version": _STATE.hypervisor_version,
    "machine_type": _STATE.machine_type,
    "os": _STATE.os_image,
    "runtime": _STATE.container_runtime,
    "kubelet": _STATE.kubelet_version,
}
_RANK = {Status.OK.value: 0, Status.UNKNOWN.value: 1, Status.WARN.value: 2, Status.CRIT.value: 3}


class _Misplaced(QuerySyntaxError):
    """A condition the parser accepted but the compiler cannot use, and where in the query it is;
    ``compile_query`` redraws it with the query and a caret."""

    def __init__(self, message: str, pos: int, hint: str) -> None:
        super().__init__(message, where="query", hint=hint)
        self.pos = pos


def _bad(node: Any, message: str, hint: str, *, at: str = "value", value: str | None = None) -> QuerySyntaxError:
    """An error at the condition's value, its operator, or its field (``value``: the value itself,
    for the reader of the call)."""
    pos = getattr(node, "pos", 0)
    if at == "op" and isinstance(node, Compare):
        pos = node.op_pos
    elif at == "value" and isinstance(node, Compare):
        pos = node.value_pos
    return _Misplaced(message, pos, hint)


def glob_to_like(pattern: str) -> str:
    """``6.18.*`` -> ``6.18.%``, with LIKE's own wildcards escaped."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _string(column: Any, op: str, value: str, node: Any) -> Cond:
    c = column if isinstance(column, ColumnElement) else col(column)
    # Two-valued on purpose: a missing value compares false (not NULL), so `not` means what it says.
    if op == "=":
        return sa.and_(c.is_not(None), c == value)
    if op == "!=":
        return sa.or_(c != value, c.is_(None))
    if op == "~":
        return sa.and_(c.is_not(None), c.like(glob_to_like(value), escape="\\"))
    if op == "!~":
        return sa.or_(sa.not_(c.like(glob_to_like(value), escape="\\")), c.is_(None))
    raise _bad(
        node, f"'{op}' does not apply to text", "use = != ~ !~ on text; < and > work on kata, cpu and health", at="op"
    )


def _version_bounds(value: str, node: Any) -> tuple[str, str, bool]:
    try:
        v = KataVersion.parse(value, allow_partial=True)
    except BadInputError:
        raise _bad(
            node, f"{value!r} is not a Kata version", "write it like 4.0, 3.28.0 or 4.1.0-rc0", value=value
        ) from None
    partial = value.lstrip("v").count(".") == 1
    low = KataVersion(v.major, v.minor, v.patch, "alpha", 0) if v.is_release else v
    high = (
        KataVersion(v.major, v.minor + 1, 0, "alpha", 0)
        if partial
        else KataVersion(v.major, v.minor, v.patch + 1, "alpha", 0)
    )
    return low.sort_key(), (high.sort_key() if partial or v.is_release else v.sort_key()), partial or v.is_release


def _kata(op: str, value: str, node: Any) -> Cond:
    c = _STATE.kata_version_sort
    if op in ("~", "!~"):
        return _string(_STATE.kata_version, op, value, node)
    low, high, is_range = _version_bounds(value, node)
    inside = sa.and_(c >= low, c < high) if is_range else c == low
    return {
        "=": inside,
        "!=": sa.or_(sa.not_(inside), c.is_(None)),
        "<": c < low,
        "<=": c < high if is_range else c <= low,
        ">": c >= high if is_range else c > low,
        ">=": c >= low,
    }[op]


def _number(column: Any, op: str, value: str, node: Any, scale: float) -> Cond:
    try:
        number = float(value) * scale
    except ValueError:
        raise _bad(node, f"{value!r} is not a number", "try: cpu >= 16", value=value) from None
    c = col(column)
    ops = {"=": c == number, "!=": c != number, "<": c < number, "<=": c <= number, ">": c > number, ">=": c >= number}
    if op not in ops:
        raise _bad(node, f"'{op}' does not apply to numbers", "use = != < <= > >=", at="op")
    return ops[op]


def _count(column: Any, op: str, value: str, node: Any) -> Cond:
    """A nullable count: an unknown one compares false (``!=`` is ``not =``, as on text)."""
    if op not in ("=", "!=", "<", "<=", ">", ">="):
        raise _bad(node, f"'{op}' does not apply to numbers", "use = != < <= > >=", at="op")
    try:
        number = int(value)
    except ValueError:
        raise _bad(node, f"{value!r} is not a whole number", "try: stale_sandboxes > 0", value=value) from None
    if op == "!=":
        return sa.or_(column != number, column.is_(None))
    compare = {"=": column == number, "<": column < number, "<=": column <= number, ">": column > number,
               ">=": column >= number}  # fmt: skip
    return sa.and_(column.is_not(None), compare[op])


def _at_least(rank: int) -> Cond:
    """The node's worst check ranks ``rank`` or higher (no check at all counts as unknown).

    Written as EXISTS over the node's checks (the primary key's prefix), not as a MAX per node:
    both databases answer a semi-join from the index, and PostgreSQL plans MAX subqueries badly.
    """
    if rank <= 0:
        return cast(Cond, sa.true())
    if rank > max(_RANK.values()):
        return cast(Cond, sa.false())
    mine = _CHECK.node_id == _NODE.id
    if rank == _RANK["unknown"]:  # any status but ok (or none at all) is at least unknown
        return sa.or_(sa.not_(sa.exists().where(mine)), sa.exists().where(mine, _CHECK.status != "ok"))
    statuses = sorted(s for s, r in _RANK.items() if r >= rank)
    return cast(Cond, sa.exists().where(mine, _CHECK.status.in_(statuses)))


def _health(op: str, value: str, node: Any) -> Cond:
    if value not in _RANK:
        raise _bad(node, f"health is one of ok, unknown, warn, crit, not {value!r}", "try: health != ok", value=value)
    target = _RANK[value]
    exactly = sa.and_(_at_least(target), sa.not_(_at_least(target + 1)))
    ops: dict[str, Any] = {
        "=": lambda: exactly,
        "!=": lambda: sa.not_(exactly),
        "<": lambda: sa.not_(_at_least(target)),
        "<=": lambda: sa.not_(_at_least(target + 1)),
        ">": lambda: _at_least(target + 1),
        ">=": lambda: _at_least(target),
    }
    if op not in ops:
        raise _bad(node, f"'{op}' does not apply to health", "use = != < <= > >= (ok < unknown < warn < crit)", at="op")
    return cast(Cond, ops[op]())


def _failing(codes: tuple[str, ...]) -> Cond:
    failing = sa.exists().where(_CHECK.node_id == _NODE.id, _CHECK.code.in_(codes), _CHECK.status != "ok")
    return cast(Cond, failing)


def _handler(value: str, dialect: str) -> Cond:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import JSONB  # only on PostgreSQL: 27 ms of imports

        handlers = sa.cast(_STATE.runtime_handlers, JSONB)
        return handlers.contains(sa.func.jsonb_build_array(value))
    each = sa.func.json_each(_STATE.runtime_handlers).table_valued("value")
    return sa.exists(sa.select(1).select_from(each).where(each.c.value == value))


def _label(key: str, op: str, value: str, node: Any) -> Cond:
    return _string(_STATE.labels[key].as_string(), op, value, node)


class Compiler:
    """Turns an AST into one SQL condition for a dialect and a time."""

    def __init__(self, dialect: str, now: datetime) -> None:
        self.dialect, self.now = dialect, now

    def compile(self, node: Ast) -> Cond:
        if isinstance(node, BoolOp):
            parts = [self.compile(n) for n in node.items]
            return sa.and_(*parts) if node.op == "and" else sa.or_(*parts)
        if isinstance(node, Not):
            return sa.not_(self.compile(node.expr))
        if isinstance(node, Flag):
            return self._flag(node)
        if isinstance(node, ChangedWithin):
            try:
                since = self.now - parse_duration(node.duration, where="changed within")
            except BadInputError as exc:
                raise _bad(
                    node, f"changed within: {exc.message}", exc.hint or "try: changed within 24h", at="field"
                ) from None
            return sa.exists().where(_CHANGE.node_id == _NODE.id, _CHANGE.at >= since)
        if isinstance(node, InList):
            each = [
                self._compare(Compare(node.field, "=", v, node.pos, node.pos, p))
                for v, p in zip(node.values, node.value_pos, strict=True)
            ]
            any_of = sa.or_(*each)
            return sa.not_(any_of) if node.negated else any_of
        return self._compare(node)

    def _flag(self, node: Flag) -> Cond:
        if node.name == "drift":
            # Drift is a JSON list, "[]" when there is none: comparing the text skips parsing 10,000 lists.
            text = (
                sa.cast(_STATE.drift, sa.Text)
                if self.dialect == "postgresql"
                else sa.type_coerce(_STATE.drift, sa.Text)
            )
            return sa.and_(text.is_not(None), text != "[]")
        column = {
            "custom_kernel": _STATE.custom_kernel,
            "ready": _STATE.ready,
            "cordoned": _STATE.unschedulable,
        }[node.name]
        return col(column).is_(True)

    def _compare(self, node: Compare) -> Cond:
        field, op, value = node.field, node.op, node.value
        if field.startswith("label:"):
            return _label(field.removeprefix("label:"), op, value, node)
        if field == "arch" and op in ("=", "!="):
            try:
                value = str(normalize_arch(value))
            except BadInputError:
                raise _bad(
                    node, f"unknown arch {value!r}", "arch is one of amd64, arm64, ppc64le, s390x", value=value
                ) from None
        if field in STRING_FIELDS:
            return _string(STRING_FIELDS[field], op, value, node)
        if field == "kata":
            return _kata(op, value, node)
        if field == "cpu":
            return _number(_STATE.cpu_capacity, op, value, node, 1000.0)
        if field == "stale_sandboxes":
            return _count(_STATE.stale_sandboxes, op, value, node)
        if field == "health":
            return _health(op, value.lower(), node)
        if field == "check":
            if op not in ("=", "!="):
                raise _bad(node, "check takes = or !=", "try: check = KATA010", at="op")
            failing = _failing((value.upper(),))
            return failing if op == "=" else sa.not_(failing)
        if field == "handler":
            if op not in ("=", "!="):
                raise _bad(node, "handler takes = or !=", "try: handler = kata-qemu-se", at="op")
            has = _handler(value, self.dialect)
            return has if op == "=" else sa.not_(has)
        raise _bad(node, f"{field!r} cannot be compared", "see docs/queries.md", at="field")


def depends_on_time(text: str) -> bool:
    """Whether the query's meaning moves with the clock (``changed within``)."""

    def walk(node: Ast) -> bool:
        if isinstance(node, ChangedWithin):
            return True
        if isinstance(node, BoolOp):
            return any(walk(n) for n in node.items)
        return isinstance(node, Not) and walk(node.expr)

    return walk(parse(text))


def compile_query(text: str, *, dialect: str, now: datetime) -> Cond:
    """Parse and compile ``text``; raises ``QuerySyntaxError`` on bad input."""
    try:
        return Compiler(dialect, now).compile(parse(text))
    except _Misplaced as exc:
        raise draw_error(text, exc.pos, exc.message, exc.hint or "") from None


def in_cluster(name: str | None) -> tuple[Cond, ...]:
    """The condition that keeps one cluster's nodes (``--context``); none for every cluster."""
    return () if name is None else (_CLUSTER.name == name,)


def nodes_select() -> sa.Select[Node, NodeState, Cluster]:
    """The base select every query filters: present nodes with their state and cluster."""
    return (
        sa.select(Node, NodeState, Cluster)
        .join(NodeState, col(NodeState.node_id) == col(Node.id))
        .join(Cluster, col(Cluster.id) == col(Node.cluster_id))
        .where(col(Node.gone_at).is_(None))
    )
