"""One writer and concurrent readers on one SQLite file in WAL mode: never "database is locked"."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from store.facts import NodeFacts
from store.migrate import open_store
from store.models import Node, NodeChange
from store.snapshots import record_snapshot

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def test_writers_and_readers_share_a_file_without_lock_errors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    open_store(url).close()
    fleet = [NodeFacts(name=f"n{i}", arch="amd64", kata_version="3.28.0") for i in range(300)]
    errors: list[BaseException] = []
    reads = [0]
    stop = threading.Event()

    def writer(cluster: str) -> None:
        store = open_store(url)
        try:
            for round_ in range(15):
                nodes = [
                    dataclasses.replace(n, boot_id=f"boot-{round_}") if i % 10 == 0 else n for i, n in enumerate(fleet)
                ]
                with store.write() as s:
                    record_snapshot(s, cluster, nodes, at=T0 + timedelta(seconds=round_))
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)
        finally:
            store.close()

    def reader() -> None:
        store = open_store(url)
        try:
            while not stop.is_set():
                with store.read() as s:
                    s.execute(sa.select(sa.func.count()).select_from(Node)).scalar_one()
                    s.execute(sa.select(NodeChange.fact).limit(50)).all()
                reads[0] += 1
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)
        finally:
            store.close()

    readers = [threading.Thread(target=reader) for _ in range(4)]
    writers = [threading.Thread(target=writer, args=(c,)) for c in ("a", "b")]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert errors == []
    assert reads[0] > 10
    store = open_store(url)
    try:
        with store.read() as s:
            # 300 presence rows + 14 rounds x 30 boot_id changes, per cluster.
            assert s.execute(sa.select(sa.func.count()).select_from(NodeChange)).scalar_one() == 2 * (300 + 14 * 30)
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        store.close()
