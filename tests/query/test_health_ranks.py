"""``health`` comparisons against every mix of check results, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from store.checks import CheckResult, Status
from store.engine import Store
from store.facts import NodeFacts
from store.health import record_checks
from store.query.compiler import compile_query, nodes_select
from store.query.reading import read_nodes
from store.snapshots import record_snapshot

AT = datetime(2026, 11, 1, tzinfo=UTC)
MIXES: dict[str, tuple[Status, ...]] = {
    "all-ok": (Status.OK, Status.OK),
    "warn": (Status.OK, Status.WARN),
    "crit": (Status.CRIT, Status.WARN, Status.OK),
    "unknown": (Status.UNKNOWN, Status.OK),
    "unchecked": (),
}
WORST = {"all-ok": 0, "warn": 2, "crit": 3, "unknown": 1, "unchecked": 1}
RANK = {"ok": 0, "unknown": 1, "warn": 2, "crit": 3}
OPS = {"=": int.__eq__, "!=": int.__ne__, "<": int.__lt__, "<=": int.__le__, ">": int.__gt__, ">=": int.__ge__}


@pytest.fixture
def checked(store: Store) -> Store:
    with store.write() as s:
        record_snapshot(s, "c", [NodeFacts(name=n, uid=n) for n in MIXES], at=AT)
        results = {
            n: [CheckResult(f"KATA{i:03d}", st, "test") for i, st in enumerate(statuses, start=1)]
            for n, statuses in MIXES.items()
            if statuses
        }
        record_checks(s, "c", results, at=AT)
    return store


def test_every_health_comparison_matches_the_worst_check(checked: Store) -> None:
    for (op, check), value in itertools.product(OPS.items(), RANK):
        cond = compile_query(f"health {op} {value}", dialect=checked.backend, now=AT)
        with checked.read() as s:
            got = {row[0].name for row in s.execute(nodes_select().where(cond))}
        assert got == {n for n, worst in WORST.items() if check(worst, RANK[value])}, f"health {op} {value}"


def test_read_nodes_reports_the_worst_check(checked: Store) -> None:
    items = read_nodes(checked, where=None, selector=None, now=AT).items
    assert {i.name: RANK[i.health] for i in items} == WORST
