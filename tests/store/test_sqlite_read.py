"""The standard-library reader of a SQLite store: it opens only an existing store at the schema head,
never writes or creates a file, and answers exactly what the SQLAlchemy store answers."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from simulator.server import Simulator
from store.errors import SchemaError, StoreError
from store.migrate import open_store
from store.query.reading import cluster_names, read_nodes
from store.sqlite_read import SqliteReader, open_reader, sqlite_file
from tests.support.cli import fleetctl_in_process

QUERIES = [
    None, "arch = s390x", "kata < 4.0", "kata = 4.0", "health != ok", "health >= warn", "custom_kernel",
    "not drift", "kernel.guest ~ '6.18.*'", "zone in (eu-de-1, eu-de-2)", "handler = kata-qemu-se",
    'label["topology.kubernetes.io/zone"] = "eu-de-3"', "cpu >= 16 and not cordoned", "stale_sandboxes > 0",
    "changed within 1h", "check = KATA013 or hypervisor.version !~ '11.*'", "name != kata-amd64-0000",
]  # fmt: skip


@pytest.fixture
def filled(fresh_sim: Simulator, tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    result = fleetctl_in_process("--kubeconfig", str(fresh_sim.kubeconfig), "--db", url, "collect")
    assert result.returncode == 0, result.stderr
    return url


def test_it_answers_every_query_as_the_store_does(filled: str) -> None:
    now = datetime.now(UTC)
    with open_store(filled, create=False) as store, SqliteReader.open(filled) as reader:  # type: ignore[union-attr]
        assert isinstance(reader, SqliteReader)
        assert cluster_names(reader) == cluster_names(store) == {"sim"}
        for where in QUERIES:
            for sort_by in ("name", "health", "kata"):
                fast = read_nodes(reader, where=where, selector=None, now=now, sort_by=sort_by)
                slow = read_nodes(store, where=where, selector=None, now=now, sort_by=sort_by)
                assert fast == slow, where
        assert read_nodes(reader, where=None, selector=None, now=now).items, "the store holds nodes"
        selected = read_nodes(reader, where=None, selector="kubernetes.io/arch in (s390x)", now=now, cluster="sim")
        assert selected == read_nodes(
            store, where=None, selector="kubernetes.io/arch in (s390x)", now=now, cluster="sim"
        )
        assert {i.arch for i in selected.items} == {"s390x"}


def test_it_opens_only_an_existing_store_at_the_head(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    assert SqliteReader.open(f"sqlite:///{missing}") is None and not missing.exists()
    assert SqliteReader.open("postgresql://u:p@127.0.0.1:1/db") is None
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    open_store(url).close()
    assert SqliteReader.open(url + "?timeout=5") is None  # options: the full path handles them
    with SqliteReader.open(url) as reader:  # type: ignore[union-attr]
        assert reader is not None and reader.fetch(("SELECT 1", {})) == [[(1,)]]
        with pytest.raises(StoreError, match="readonly"):
            reader.fetch(("DELETE FROM cluster", {}))  # query_only: this reader never writes
    with sqlite3.connect(tmp_path / "fleet.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    assert SqliteReader.open(url) is None  # not the head: open_store decides (migrate, or refuse as here)
    with pytest.raises(SchemaError, match="schema revision 9999, which this fleetctl does not know"):
        open_reader(url)
    with sqlite3.connect(tmp_path / "fleet.db") as conn:
        conn.execute("DROP TABLE alembic_version")
    assert SqliteReader.open(url) is None


def test_the_default_store_and_plain_urls_name_their_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert sqlite_file(None) == sqlite_file(" ") == tmp_path / "fleetctl" / "fleetctl.db"
    assert sqlite_file("sqlite:////abs/fleet.db") == Path("/abs/fleet.db")
    assert sqlite_file("sqlite:///rel.db") == Path("rel.db")
    assert sqlite_file("sqlite://") is None and sqlite_file("sqlite:///:memory:") is None
