"""Reading an up-to-date SQLite store through the standard library's ``sqlite3``.

The on-call commands (``nodes``, ``query``) answer from here when the store is a SQLite file at
this fleetctl's schema head: no SQLAlchemy, no SQLModel, no migration machinery, so they start in a
fraction of the time (issue 23; ``benchmarks/bench_cli.py``). Anything else (PostgreSQL, a missing
file, an older or newer schema, a URL with options) goes through ``store.migrate.open_store``,
which migrates, refuses or explains. This module never writes and never creates a file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from store.errors import StoreError
from store.locations import SQLITE_BUSY_TIMEOUT_MS, default_sqlite_path
from store.migrations import HEAD

if TYPE_CHECKING:
    from store.engine import Store


def sqlite_file(raw_url: str | None) -> Path | None:
    """The file a plain ``sqlite:///PATH`` URL (or the default) names; None for anything else."""
    if raw_url is None or not raw_url.strip():
        return default_sqlite_path()
    text = raw_url.strip()
    if not text.startswith("sqlite:///") or "?" in text:
        return None
    path = text.removeprefix("sqlite:///")
    return Path(path) if path and path != ":memory:" else None


class SqliteReader:
    """A read-only handle on one SQLite store; every ``fetch`` is one short read transaction."""

    backend = "sqlite"

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path, self._conn = path, conn

    @classmethod
    def open(cls, raw_url: str | None) -> SqliteReader | None:
        """A reader when ``raw_url`` is an existing SQLite store at the schema head, else None."""
        path = sqlite_file(raw_url)
        if path is None or not path.is_file():
            return None
        try:  # mode=rw: an existing file only, never a new one
            conn = sqlite3.connect(
                f"file:{quote(str(path.absolute()))}?mode=rw", uri=True, isolation_level=None,
                timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, check_same_thread=False,
            )  # fmt: skip
        except sqlite3.Error:
            return None
        try:
            conn.execute("PRAGMA query_only = ON")
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.Error:
            row = None
        if row is None or row[0] != HEAD:
            conn.close()
            return None
        return cls(path, conn)

    def fetch(self, *statements: tuple[str, Mapping[str, Any]]) -> list[Sequence[Sequence[Any]]]:
        """Run ``statements`` in one read transaction (one snapshot); their rows, in order."""
        try:
            self._conn.execute("BEGIN")
            try:
                return [self._conn.execute(sql, dict(params)).fetchall() for sql, params in statements]
            finally:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise StoreError(first, where=f"database sqlite:///{self.path}") from None

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def __enter__(self) -> SqliteReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_reader(raw_url: str | None) -> SqliteReader | Store:
    """A reader for the on-call commands: the fast one for an up-to-date SQLite file, else the
    store as ``open_store(create=False)`` opens it (migrated, or a clear error)."""
    reader = SqliteReader.open(raw_url)
    if reader is not None:
        return reader
    from store.migrate import open_store

    return open_store(raw_url, create=False)
