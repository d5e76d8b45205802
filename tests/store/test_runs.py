"""Upgrade runs in the store, on SQLite and PostgreSQL: written whole, locked by one holder, stepped."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

import pytest

from store.engine import Store
from store.errors import BadInputError
from store.facts import NodeFacts
from store.runs import (
    DraftNode,
    audit_begin,
    audit_end,
    audit_rows,
    claim_run,
    create_run,
    read_run,
    release_run,
    renew_run,
    set_run,
    set_step,
    shown_state,
)
from store.snapshots import record_snapshot
from store.states import RunState

T0 = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)


@pytest.fixture
def filled(store: Store) -> Store:
    nodes = [NodeFacts(name=f"n{i}", uid=f"u{i}", arch="amd64", kata_version="3.28.0") for i in range(4)]
    with store.write() as s:
        record_snapshot(s, "prod", nodes, at=T0)
    return store


def waves(*sizes: int) -> list[list[DraftNode]]:
    out, i = [], 0
    for size in sizes:
        out.append([DraftNode("prod", f"n{j}", "3.28.0", "4.1.0") for j in range(i, i + size)])
        i += size
    return out


def test_a_run_is_written_whole_with_ordered_steps(filled: Store) -> None:
    run_id = create_run(filled, name="r", target="4.1.0", plan={"source": {}}, waves=waves(1, 3))
    view = read_run(filled, run_id)
    assert (view.run.state, [w.size for w in view.waves]) == ("pending", [1, 3])
    assert [(s.wave, s.node, s.step, s.state) for s in view.steps] == [
        (1, "n0", "claim", "pending"), (2, "n1", "claim", "pending"), (2, "n2", "claim", "pending"),
        (2, "n3", "claim", "pending"),
    ]  # fmt: skip
    set_step(filled, view.steps[0].id, step="drain", state="running", cordoned_by_us=True, facts={"uid": "u0"})
    again = read_run(filled, run_id).steps[0]
    assert (again.step, again.state, again.cordoned_by_us, again.facts) == ("drain", "running", True, {"uid": "u0"})


def test_a_run_naming_an_unknown_node_writes_nothing(filled: Store) -> None:
    bad = [[DraftNode("prod", "n0", "3.28.0", "4.1.0"), DraftNode("prod", "ghost", "3.28.0", "4.1.0")]]
    with pytest.raises(BadInputError, match="not in the store"):
        create_run(filled, name="r", target="4.1.0", plan={}, waves=bad)
    with pytest.raises(BadInputError, match="no upgrade run"):
        read_run(filled)


def test_one_holder_at_a_time_until_its_lease_expires_or_it_dies(filled: Store) -> None:
    run_id = create_run(filled, name="r", target="4.1.0", plan={}, waves=waves(1))
    ttl = timedelta(seconds=30)
    assert claim_run(filled, run_id, "a", ttl, holder_alive=lambda _h: True) is None
    held = claim_run(filled, run_id, "b", ttl, holder_alive=lambda _h: True)
    assert held is not None and held.startswith("a until")
    assert claim_run(filled, run_id, "b", ttl, holder_alive=lambda h: h != "a") is None  # a's process is gone
    assert not renew_run(filled, run_id, "a", ttl) and renew_run(filled, run_id, "b", ttl)
    release_run(filled, run_id, "b")
    assert read_run(filled, run_id).run.holder is None
    expired = claim_run(filled, run_id, "c", timedelta(seconds=-1), holder_alive=lambda _h: True)
    assert expired is None and claim_run(filled, run_id, "d", ttl, holder_alive=lambda _h: True) is None


def test_an_active_run_nobody_holds_shows_as_interrupted(filled: Store) -> None:
    run_id = create_run(filled, name="r", target="4.1.0", plan={}, waves=waves(1))
    assert shown_state(read_run(filled, run_id).run) == RunState.PENDING
    set_run(filled, run_id, state=RunState.RUNNING)
    assert shown_state(read_run(filled, run_id).run) == RunState.INTERRUPTED  # nobody holds it
    assert claim_run(filled, run_id, "a", timedelta(seconds=30), holder_alive=lambda _h: True) is None
    run = read_run(filled, run_id).run
    assert shown_state(run) == RunState.RUNNING
    assert run.lease_expires_at is not None
    assert shown_state(run, at=run.lease_expires_at + timedelta(seconds=1)) == RunState.INTERRUPTED  # it ran out
    release_run(filled, run_id, "a")
    set_run(filled, run_id, state=RunState.PAUSED)
    assert shown_state(read_run(filled, run_id).run) == RunState.PAUSED


def test_a_write_is_audited_pending_before_it_is_sent_then_with_its_result(filled: Store) -> None:
    run_id = create_run(filled, name="r", target="4.1.0", plan={}, waves=waves(1))
    begin = functools.partial(audit_begin, filled, actor="t", run_id=run_id, cluster="prod")
    [cordon] = begin(action="cordon", targets=["node/n0"])
    evict, refused = begin(action="evict", targets=["pod/a/b", "pod/a/c"])  # one commit for both
    [killed] = begin(action="uncordon", targets=["node/n1"])  # the process dies before the result
    assert begin(action="evict", targets=[]) == []  # nothing to record, nothing written
    assert {r.result for r in audit_rows(filled, run_id)} == {"pending"}
    audit_end(filled, cordon, "ok")
    audit_end(filled, evict, "failed", error="x")
    audit_end(filled, refused, None)  # a 429 changed nothing: no row
    rows = audit_rows(filled, run_id)
    assert [(r.action, r.target, r.result, r.cluster_id is not None) for r in rows] == [
        ("cordon", "node/n0", "ok", True),
        ("evict", "pod/a/b", "failed", True),
        ("uncordon", "node/n1", "pending", True),
    ]
    assert rows[1].details == {"error": "x"} and killed == rows[2].op
