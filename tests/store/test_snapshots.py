"""Inventory snapshots write only what changed, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select

from store.engine import Store
from store.facts import NodeFacts
from store.models import Cluster, Node, NodeChange, NodeState
from store.snapshots import PRESENCE, record_snapshot

T0 = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)


def _fleet(n: int = 30) -> list[NodeFacts]:
    arches = ["amd64", "ppc64le", "s390x"]
    return [
        NodeFacts(
            name=f"node-{i:03d}",
            uid=f"uid-{i}",
            arch=arches[i % 3],
            zone=f"zone-{i % 3}",
            cpu_capacity=32000,
            ready=True,
            kata_version="3.28.0",
            guest_kernel="6.18.15-186",
            runtime_handlers=("kata-qemu", "kata-qemu-runtime-rs"),
            labels={"kubernetes.io/arch": arches[i % 3]},
        )
        for i in range(n)
    ]


def _snapshot(store: Store, nodes: list[NodeFacts], at: datetime, **kw: object) -> object:
    with store.write() as s:
        return record_snapshot(s, "prod-eu", nodes, at=at, **kw)  # type: ignore[arg-type]


def _changes(store: Store) -> list[tuple[str, str, str | None, str | None]]:
    with store.read() as s:
        rows = s.execute(
            sa.select(Node.name, NodeChange.fact, NodeChange.old, NodeChange.new)
            .join(Node, Node.id == NodeChange.node_id)
            .order_by(NodeChange.id)
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_first_snapshot_records_each_node_once(store: Store) -> None:
    result = _snapshot(store, _fleet(), T0)
    assert result.added == 30 and result.change_rows == 30  # type: ignore[attr-defined]
    changes = _changes(store)
    assert {c[1] for c in changes} == {PRESENCE}
    with store.read() as s:
        assert s.exec(select(sa.func.count()).select_from(NodeState)).one() == 30
        cluster = s.exec(select(Cluster)).one()
        assert cluster.last_collected_at == T0


def test_identical_second_snapshot_writes_zero_change_rows(store: Store) -> None:
    _snapshot(store, _fleet(), T0)
    before = len(_changes(store))
    # Same facts, with collections in another order: still nothing changed.
    shuffled = [dataclasses.replace(f, runtime_handlers=tuple(reversed(f.runtime_handlers))) for f in _fleet()]
    result = _snapshot(store, list(reversed(shuffled)), T0 + timedelta(minutes=1))
    assert result.change_rows == 0 and result.changed == 0  # type: ignore[attr-defined]
    assert len(_changes(store)) == before
    with store.read() as s:
        assert s.exec(select(Cluster)).one().last_collected_at == T0 + timedelta(minutes=1)


def test_a_changed_kernel_writes_exactly_one_row(store: Store) -> None:
    fleet = _fleet()
    _snapshot(store, fleet, T0)
    fleet[7] = dataclasses.replace(fleet[7], guest_kernel="6.18.15-186-acme")
    result = _snapshot(store, fleet, T0 + timedelta(minutes=1))
    assert result.change_rows == 1  # type: ignore[attr-defined]
    assert _changes(store)[-1] == ("node-007", "guest_kernel", "6.18.15-186", "6.18.15-186-acme")
    with store.read() as s:
        state = s.exec(select(NodeState).join(Node).where(Node.name == "node-007")).one()
        assert state.guest_kernel == "6.18.15-186-acme"
        assert state.changed_at == T0 + timedelta(minutes=1)


def test_several_facts_on_several_nodes(store: Store) -> None:
    fleet = _fleet()
    _snapshot(store, fleet, T0)
    fleet[1] = dataclasses.replace(fleet[1], kata_version="4.0.0", ready=False)
    fleet[2] = dataclasses.replace(fleet[2], labels={"kubernetes.io/arch": "s390x", "pinned": "true"})
    _snapshot(store, fleet, T0 + timedelta(minutes=1))
    assert sorted(_changes(store)[30:]) == [
        ("node-001", "kata_version", "3.28.0", "4.0.0"),
        ("node-001", "ready", "true", "false"),
        ("node-002", "labels", '{"kubernetes.io/arch":"s390x"}', '{"kubernetes.io/arch":"s390x","pinned":"true"}'),
    ]


def test_missing_nodes_are_marked_gone_not_deleted_and_can_return(store: Store) -> None:
    fleet = _fleet()
    _snapshot(store, fleet, T0)
    result = _snapshot(store, fleet[:-2], T0 + timedelta(minutes=1))
    assert result.gone == 2  # type: ignore[attr-defined]
    with store.read() as s:
        gone = s.exec(select(Node).where(Node.gone_at.is_not(None))).all()  # type: ignore[union-attr]
        assert sorted(n.name for n in gone) == ["node-028", "node-029"]
        assert s.exec(select(sa.func.count()).select_from(Node)).one() == 30
    # Still gone next time: no second "gone" row.
    assert _snapshot(store, fleet[:-2], T0 + timedelta(minutes=2)).change_rows == 0  # type: ignore[attr-defined]
    result = _snapshot(store, fleet, T0 + timedelta(minutes=3))
    assert result.returned == 2 and result.change_rows == 2  # type: ignore[attr-defined]
    assert _changes(store)[-1][1:] == (PRESENCE, "gone", "present")


def test_a_partial_snapshot_marks_nobody_gone(store: Store) -> None:
    fleet = _fleet()
    _snapshot(store, fleet, T0)
    result = _snapshot(store, fleet[:10], T0 + timedelta(minutes=1), complete=False)
    assert result.gone == 0 and result.change_rows == 0  # type: ignore[attr-defined]


def test_clusters_keep_their_nodes_apart(store: Store) -> None:
    with store.write() as s:
        record_snapshot(s, "a", _fleet(3), at=T0)
        record_snapshot(s, "b", _fleet(3), at=T0)
    with store.write() as s:
        record_snapshot(s, "a", _fleet(2), at=T0 + timedelta(minutes=1))
    with store.read() as s:
        rows = s.execute(sa.select(Cluster.name, Node.name).join(Node).where(Node.gone_at.is_(None))).all()  # type: ignore[union-attr]
    assert sorted(rows) == [
        ("a", "node-000"),
        ("a", "node-001"),
        ("b", "node-000"),
        ("b", "node-001"),
        ("b", "node-002"),
    ]


def test_a_failed_snapshot_writes_nothing(store: Store) -> None:
    _snapshot(store, _fleet(), T0)
    before = _changes(store)
    bad = [*_fleet(), NodeFacts(name="node-000")]
    with pytest.raises(ValueError, match="twice"):
        _snapshot(store, bad, T0 + timedelta(minutes=1))
    assert _changes(store) == before
    with store.read() as s:
        assert s.exec(select(Cluster)).one().last_collected_at == T0


def test_rows_read_in_a_read_block_stay_usable_after_it(store: Store) -> None:
    _snapshot(store, _fleet(3), T0)
    with store.read() as s:
        cluster = s.exec(select(Cluster)).one()
    assert cluster.name == "prod-eu" and cluster.last_collected_at == T0


def test_compaction_drops_old_history_and_long_gone_nodes(store: Store) -> None:
    from store.retention import compact

    fleet = _fleet(5)
    _snapshot(store, fleet, T0)
    _snapshot(store, fleet[:4], T0 + timedelta(days=1))  # node-004 goes
    changed = [dataclasses.replace(f, boot_id="b2") for f in fleet[:4]]
    _snapshot(store, changed, T0 + timedelta(days=100))
    with store.read() as s:
        preview = compact(s, before=T0 + timedelta(days=90), dry_run=True)
    assert (preview.changes, preview.nodes) == (6, 1)  # 5 presence rows + 1 gone row; node-004
    assert len(_changes(store)) == 10
    with store.write() as s:
        compact(s, before=T0 + timedelta(days=90))
    remaining = _changes(store)
    assert {(n, f) for n, f, _, _ in remaining} == {(f"node-00{i}", "boot_id") for i in range(4)}
    with store.read() as s:
        assert sorted(n.name for n in s.exec(select(Node))) == [f"node-00{i}" for i in range(4)]
        assert s.exec(select(sa.func.count()).select_from(NodeState)).one() == 4
