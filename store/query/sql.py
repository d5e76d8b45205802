"""Compiling a parsed query to a SQL condition over ``node``, ``node_state`` and ``cluster`` (pure).

The condition is plain SQL text with named parameters (``:q0``), one text for SQLite and one for
PostgreSQL. Every value from the query becomes a parameter; nothing the user wrote is pasted into
SQL. Plain text, not SQLAlchemy expressions, so the on-call reads run on the standard library's
``sqlite3`` without loading SQLAlchemy (start-up, issue 23); ``store.query.compiler`` wraps the same
text for the SQLAlchemy reads.

Versions compare in release order through ``node_state.kata_version_sort``, so ``kata < 4.0``
means every release before 4.0.0 (3.32.0 included, 4.0.0-rc0 too). ``kata = 4.0`` matches any
4.0.x. Health is a node's worst current check, where "never checked" counts as unknown. Text
comparisons are two-valued: a missing value compares false, so ``not`` means what it says.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from store.arch import normalize_arch
from store.checks import Status
from store.durations import parse_duration
from store.errors import BadInputError
from store.query.parser import BoolOp, ChangedWithin, Compare, Flag, InList, Not, QuerySyntaxError, draw_error, parse
from store.query.parser import Node as Ast
from store.versions import KataVersion

STRING_FIELDS: dict[str, str] = {
    "name": "node.name",
    "cluster": "cluster.name",
    "arch": "node_state.arch",
    "zone": "node_state.zone",
    "region": "node_state.region",
    "kata.deploy": "node_state.kata_deploy_version",
    "kernel.guest": "node_state.guest_kernel",
    "kernel.host": "node_state.host_kernel",
    "hypervisor": "node_state.hypervisor",
    "hypervisor.version": "node_state.hypervisor_version",
    "machine_type": "node_state.machine_type",
    "os": "node_state.os_image",
    "runtime": "node_state.container_runtime",
    "kubelet": "node_state.kubelet_version",
}
RANK = {s.value: s.rank for s in Status}
TRUE, FALSE = "(1 = 1)", "(1 = 0)"
_CHECKS = "SELECT 1 FROM health_check WHERE health_check.node_id = node.id"


@dataclass
class Sql:
    """A condition's text and its parameters; several conditions of one statement share ``params``."""

    dialect: str
    params: dict[str, Any] = field(default_factory=dict)

    def param(self, value: Any) -> str:
        """A new named parameter holding ``value``."""
        name = f"q{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def text_of(self, column: str) -> str:
        """A JSON column as its text (on PostgreSQL a cast: the driver would decode every list)."""
        return f"CAST({column} AS TEXT)" if self.dialect == "postgresql" else column


class _Misplaced(QuerySyntaxError):
    """A condition the parser accepted but the compiler cannot use, and where in the query it is;
    ``compile_sql`` redraws it with the query and a caret."""

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


def _string(sql: Sql, column: str, op: str, value: str, node: Any) -> str:
    if op == "=":
        return f"({column} IS NOT NULL AND {column} = {sql.param(value)})"
    if op == "!=":
        return f"({column} != {sql.param(value)} OR {column} IS NULL)"
    if op in ("~", "!~"):
        like = f"{column} LIKE {sql.param(glob_to_like(value))} ESCAPE '\\'"
        return f"({column} IS NOT NULL AND {like})" if op == "~" else f"(NOT ({like}) OR {column} IS NULL)"
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


def _kata(sql: Sql, op: str, value: str, node: Any) -> str:
    if op in ("~", "!~"):
        return _string(sql, "node_state.kata_version", op, value, node)
    c = "node_state.kata_version_sort"
    low_key, high_key, is_range = _version_bounds(value, node)
    if is_range and op in ("<=", ">"):  # up to, or from, the next release after the range
        return f"{c} {'<' if op == '<=' else '>='} {sql.param(high_key)}"
    low = sql.param(low_key)
    if not is_range or op in ("<", ">="):
        return {"=": f"{c} = {low}", "!=": f"({c} != {low} OR {c} IS NULL)"}.get(op) or f"{c} {op} {low}"
    inside = f"({c} >= {low} AND {c} < {sql.param(high_key)})"
    return inside if op == "=" else f"(NOT {inside} OR {c} IS NULL)"


_NUMBER_OPS = ("=", "!=", "<", "<=", ">", ">=")


def _number(sql: Sql, column: str, op: str, value: str, node: Any, scale: float) -> str:
    try:
        number = float(value) * scale
    except ValueError:
        raise _bad(node, f"{value!r} is not a number", "try: cpu >= 16", value=value) from None
    if op not in _NUMBER_OPS:
        raise _bad(node, f"'{op}' does not apply to numbers", "use = != < <= > >=", at="op")
    return f"{column} {op} {sql.param(number)}"


def _count(sql: Sql, column: str, op: str, value: str, node: Any) -> str:
    """A nullable count: an unknown one compares false (``!=`` is ``not =``, as on text)."""
    if op not in _NUMBER_OPS:
        raise _bad(node, f"'{op}' does not apply to numbers", "use = != < <= > >=", at="op")
    try:
        number = int(value)
    except ValueError:
        raise _bad(node, f"{value!r} is not a whole number", "try: stale_sandboxes > 0", value=value) from None
    if op == "!=":
        return f"({column} != {sql.param(number)} OR {column} IS NULL)"
    return f"({column} IS NOT NULL AND {column} {op} {sql.param(number)})"


def _at_least(rank: int) -> str:
    """The node's worst check ranks ``rank`` or higher (no check at all counts as unknown).

    Written as EXISTS over the node's checks (the primary key's prefix), not as a MAX per node:
    both databases answer a semi-join from the index, and PostgreSQL plans MAX subqueries badly.
    """
    if rank <= 0:
        return TRUE
    if rank > max(RANK.values()):
        return FALSE
    if rank == RANK["unknown"]:  # any status but ok (or none at all) is at least unknown
        return f"(NOT EXISTS ({_CHECKS}) OR EXISTS ({_CHECKS} AND health_check.status != 'ok'))"
    statuses = ", ".join(f"'{s}'" for s, r in sorted(RANK.items()) if r >= rank)  # our constants, not input
    return f"EXISTS ({_CHECKS} AND health_check.status IN ({statuses}))"


def _health(op: str, value: str, node: Any) -> str:
    if value not in RANK:
        raise _bad(node, f"health is one of ok, unknown, warn, crit, not {value!r}", "try: health != ok", value=value)
    target = RANK[value]
    exactly = f"({_at_least(target)} AND NOT ({_at_least(target + 1)}))"
    ops = {
        "=": exactly,
        "!=": f"NOT {exactly}",
        "<": f"NOT ({_at_least(target)})",
        "<=": f"NOT ({_at_least(target + 1)})",
        ">": _at_least(target + 1),
        ">=": _at_least(target),
    }
    if op not in ops:
        raise _bad(node, f"'{op}' does not apply to health", "use = != < <= > >= (ok < unknown < warn < crit)", at="op")
    return ops[op]


def _handler(sql: Sql, value: str) -> str:
    if sql.dialect == "postgresql":
        return f"CAST(node_state.runtime_handlers AS JSONB) @> jsonb_build_array(CAST({sql.param(value)} AS TEXT))"
    return f"EXISTS (SELECT 1 FROM json_each(node_state.runtime_handlers) AS h WHERE h.value = {sql.param(value)})"


def _label(sql: Sql, key: str, op: str, value: str, node: Any) -> str:
    if sql.dialect == "postgresql":
        column = f"(CAST(node_state.labels AS JSON) ->> CAST({sql.param(key)} AS TEXT))"
    else:
        column = f"json_extract(node_state.labels, {sql.param('$.' + json.dumps(key))})"
    return _string(sql, column, op, value, node)


def _at(sql: Sql, when: datetime) -> Any:
    """A time as the store keeps it: SQLite holds naive UTC text, PostgreSQL an aware timestamp."""
    utc = when.astimezone(UTC)
    return utc.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds") if sql.dialect == "sqlite" else utc


class Compiler:
    """Turns an AST into one SQL condition for a dialect and a time."""

    def __init__(self, sql: Sql, now: datetime) -> None:
        self.sql, self.now = sql, now

    def compile(self, node: Ast) -> str:
        if isinstance(node, BoolOp):
            joiner = " AND " if node.op == "and" else " OR "
            return "(" + joiner.join(self.compile(n) for n in node.items) + ")"
        if isinstance(node, Not):
            return f"NOT ({self.compile(node.expr)})"
        if isinstance(node, Flag):
            return self._flag(node)
        if isinstance(node, ChangedWithin):
            try:
                since = self.now - parse_duration(node.duration, where="changed within")
            except BadInputError as exc:
                raise _bad(
                    node, f"changed within: {exc.message}", exc.hint or "try: changed within 24h", at="field"
                ) from None
            at = self.sql.param(_at(self.sql, since))
            return f"EXISTS (SELECT 1 FROM node_change WHERE node_change.node_id = node.id AND node_change.at >= {at})"
        if isinstance(node, InList):
            each = [
                self._compare(Compare(node.field, "=", v, node.pos, node.pos, p))
                for v, p in zip(node.values, node.value_pos, strict=True)
            ]
            any_of = "(" + " OR ".join(each) + ")"
            return f"NOT {any_of}" if node.negated else any_of  # any_of is parenthesised
        return self._compare(node)

    def _flag(self, node: Flag) -> str:
        if node.name == "drift":
            # Drift is a JSON list, "[]" when there is none: comparing the text skips parsing 10,000 lists.
            text = self.sql.text_of("node_state.drift")
            return f"({text} IS NOT NULL AND {text} != '[]')"
        column = {"custom_kernel": "custom_kernel", "ready": "ready", "cordoned": "unschedulable"}[node.name]
        return f"node_state.{column} IS TRUE"

    def _compare(self, node: Compare) -> str:
        sql, field, op, value = self.sql, node.field, node.op, node.value
        if field.startswith("label:"):
            return _label(sql, field.removeprefix("label:"), op, value, node)
        if field == "arch" and op in ("=", "!="):
            try:
                value = str(normalize_arch(value))
            except BadInputError:
                raise _bad(
                    node, f"unknown arch {value!r}", "arch is one of amd64, arm64, ppc64le, s390x", value=value
                ) from None
        if field in STRING_FIELDS:
            return _string(sql, STRING_FIELDS[field], op, value, node)
        if field == "kata":
            return _kata(sql, op, value, node)
        if field == "cpu":
            return _number(sql, "node_state.cpu_capacity", op, value, node, 1000.0)
        if field == "stale_sandboxes":
            return _count(sql, "node_state.stale_sandboxes", op, value, node)
        if field == "health":
            return _health(op, value.lower(), node)
        if field == "check":
            if op not in ("=", "!="):
                raise _bad(node, "check takes = or !=", "try: check = KATA010", at="op")
            code = sql.param(value.upper())
            failing = f"EXISTS ({_CHECKS} AND health_check.code = {code} AND health_check.status != 'ok')"
            return failing if op == "=" else f"NOT ({failing})"
        if field == "handler":
            if op not in ("=", "!="):
                raise _bad(node, "handler takes = or !=", "try: handler = kata-qemu-se", at="op")
            has = _handler(sql, value)
            return has if op == "=" else f"NOT ({has})"
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


def compile_sql(text: str, sql: Sql, *, now: datetime) -> str:
    """Parse and compile ``text`` into a condition whose parameters are added to ``sql``; raises
    ``QuerySyntaxError`` on bad input."""
    try:
        return Compiler(sql, now).compile(parse(text))
    except _Misplaced as exc:
        raise draw_error(text, exc.pos, exc.message, exc.hint or "") from None


def in_cluster_sql(name: str | None, sql: Sql) -> list[str]:
    """The condition that keeps one cluster's nodes (``--context``); none for every cluster."""
    return [] if name is None else [f"cluster.name = {sql.param(name)}"]
