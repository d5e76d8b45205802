"""Rendering and diffing node facts (pure)."""

from __future__ import annotations

from store.facts import FACT_NAMES, NodeFacts, diff_facts


def _node(**kw: object) -> NodeFacts:
    base: dict[str, object] = {
        "name": "n1",
        "arch": "s390x",
        "guest_kernel": "6.18.35-202",
        "runtime_handlers": ("kata-qemu", "kata-qemu-runtime-rs"),
        "labels": {"topology.kubernetes.io/zone": "z1", "kubernetes.io/arch": "s390x"},
    }
    base.update(kw)
    return NodeFacts(**base)  # type: ignore[arg-type]


def test_same_facts_in_another_order_have_the_same_digest() -> None:
    a = _node()
    b = _node(
        runtime_handlers=("kata-qemu-runtime-rs", "kata-qemu"),
        labels={"kubernetes.io/arch": "s390x", "topology.kubernetes.io/zone": "z1"},
    )
    assert a.digest() == b.digest()
    assert diff_facts(a.fact_items(), b.fact_items()) == []


def test_one_changed_fact_is_one_change_with_old_and_new_text() -> None:
    changes = diff_facts(_node().fact_items(), _node(guest_kernel="6.18.35-202-custom").fact_items())
    assert [(c.fact, c.old, c.new) for c in changes] == [("guest_kernel", "6.18.35-202", "6.18.35-202-custom")]


def test_fact_text_is_stable_for_bools_none_and_lists() -> None:
    items = _node(ready=True, unschedulable=False, cpu_capacity=64000).fact_items()
    assert items["ready"] == "true"
    assert items["unschedulable"] == "false"
    assert items["cpu_capacity"] == "64000"
    assert items["zone"] is None
    assert items["runtime_handlers"] == "kata-qemu,kata-qemu-runtime-rs"
    assert set(items) == set(FACT_NAMES)
    assert "name" not in items


def test_the_node_state_table_has_a_column_for_every_fact_and_no_other() -> None:
    """NodeFacts (the value type) and NodeState (its table) declare the facts twice, as a dataclass
    and as columns with their SQL types; this keeps the two the same list."""
    from store.models import NodeState

    columns = set(NodeState.__table__.columns.keys()) - {"node_id", "digest", "changed_at"}  # type: ignore[attr-defined]
    assert columns == set(FACT_NAMES)
