"""Health results are written a chunk of nodes at a time: the same rows and transitions at any chunk size."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

import store.health as health
from store.checks import CheckResult, Status
from store.engine import Store
from store.facts import NodeFacts
from store.health import record_checks
from store.models import HealthCheck, HealthTransition
from store.snapshots import record_snapshot

AT = datetime(2026, 12, 1, tzinfo=UTC)
NODES = [f"n{i}" for i in range(7)]


def _round(store: Store, statuses: dict[str, Status], at: datetime) -> health.HealthWriteResult:
    with store.write() as s:
        return record_checks(
            s, "c", {n: [CheckResult("KATA001", st, f"{st}"), CheckResult("KATA002", Status.OK, "ok")] for n, st in statuses.items()}, at=at
        )  # fmt: skip


def _rows(store: Store) -> tuple[dict[tuple[str, str], str], int]:
    with store.read_connection() as conn:
        checks = {
            (str(node), str(code)): str(status)
            for node, code, status in conn.execute(sa.select(HealthCheck.node_id, HealthCheck.code, HealthCheck.status))  # type: ignore[call-overload]
        }
        transitions = int(conn.execute(sa.select(sa.func.count()).select_from(HealthTransition)).scalar_one())
    return checks, transitions


@pytest.mark.parametrize("chunk", [2, 500])
def test_chunks_write_what_one_pass_would(store: Store, chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "CHUNK_NODES", chunk)
    with store.write() as s:
        record_snapshot(s, "c", [NodeFacts(name=n, uid=n) for n in NODES], at=AT)
    first = _round(store, dict.fromkeys(NODES, Status.OK), AT)
    assert (first.checks, first.transitions) == (14, 14)
    flipped = {n: (Status.CRIT if i % 3 == 0 else Status.OK) for i, n in enumerate(NODES)}  # n0, n3, n6: across chunks
    second = _round(store, flipped, AT + timedelta(minutes=1))
    assert (second.checks, second.transitions) == (3, 3)
    again = _round(store, flipped, AT + timedelta(minutes=2))
    assert (again.checks, again.transitions) == (0, 0)  # nothing changed: nothing written
    checks, transitions = _rows(store)
    assert transitions == 17 and len(checks) == 14
    assert sorted(status for (_, code), status in checks.items() if code == "KATA001") == ["crit"] * 3 + ["ok"] * 4
