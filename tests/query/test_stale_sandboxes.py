"""``stale_sandboxes`` in queries, node rows and ``stale_summary``, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fleetctl.output import node_items
from store.engine import Store
from store.facts import NodeFacts
from store.query import QuerySyntaxError
from store.query.facts_read import StaleSummary, stale_summary
from store.query.reading import read_nodes
from store.snapshots import record_snapshot

AT = datetime(2026, 11, 1, tzinfo=UTC)
STALE: dict[str, int | None] = {"three": 3, "one": 1, "zero": 0, "unknown": None}


@pytest.fixture
def fleet(store: Store) -> Store:
    with store.write() as s:
        record_snapshot(s, "c", [NodeFacts(name=n, uid=n, stale_sandboxes=v) for n, v in STALE.items()], at=AT)
        record_snapshot(s, "d", [NodeFacts(name="three", uid="d3", stale_sandboxes=2)], at=AT)
    return store


def _names(store: Store, where: str) -> set[str]:
    return {i.name for i in read_nodes(store, where=where, selector=None, now=AT, cluster="c").items}


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("stale_sandboxes > 0", {"three", "one"}),
        ("stale_sandboxes = 0", {"zero"}),
        ("stale_sandboxes >= 1", {"three", "one"}),
        ("stale_sandboxes < 2", {"one", "zero"}),
        ("stale_sandboxes <= 0", {"zero"}),
        ("stale_sandboxes != 0", {"three", "one", "unknown"}),  # != is `not =`, as on text
        ("not stale_sandboxes > 0", {"zero", "unknown"}),  # an unknown count compares false
        ("stale_sandboxes in (0, 3)", {"three", "zero"}),
    ],
)
def test_an_unknown_count_matches_no_comparison(fleet: Store, where: str, expected: set[str]) -> None:
    assert _names(fleet, where) == expected


@pytest.mark.parametrize(("where", "message"), [("stale_sandboxes > many", "not a whole number"),
                                                ("stale_sandboxes ~ 1*", "does not apply to numbers")])  # fmt: skip
def test_a_bad_count_or_operator_is_a_query_error(fleet: Store, where: str, message: str) -> None:
    with pytest.raises(QuerySyntaxError, match=message):
        _names(fleet, where)


def test_node_rows_and_json_items_carry_the_count(fleet: Store) -> None:
    rows = read_nodes(fleet, where=None, selector=None, now=AT, cluster="c").items
    assert {r.name: r.stale_sandboxes for r in rows} == STALE
    assert {i["name"]: i["staleSandboxes"] for i in node_items(rows)} == STALE


def test_the_summary_counts_nodes_sandboxes_and_unknowns(fleet: Store) -> None:
    assert stale_summary(fleet) == StaleSummary(nodes=3, sandboxes=6, unknown=1)
    picked = [("c", "three"), ("c", "zero"), ("c", "unknown"), ("c", "not-in-store"), ("d", "three")]
    assert stale_summary(fleet, picked) == StaleSummary(nodes=2, sandboxes=5, unknown=2)
    assert stale_summary(fleet, [("c", "zero")]) == (0, 0, 0)
    assert stale_summary(fleet, []) == (0, 0, 0)
