"""Opening the store: SQLite by default, PostgreSQL by URL, migrated on open.

SQLite runs in WAL mode with a busy timeout. Writes take the lock up front with
``BEGIN IMMEDIATE`` (a deferred write that upgrades later can fail with "database is locked"
no matter the timeout), and reads are short ``BEGIN`` transactions, so a reader never holds
the WAL open. The TUI, the collector and the daemon can share one file safely.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlmodel import Session

from store.errors import DatabaseURLError, StoreError, StoreUnreachableError
from store.locations import SQLITE_BUSY_TIMEOUT_MS, default_sqlite_path
from store.redaction import register_secret

log = logging.getLogger(__name__)

PG_CONNECT_TIMEOUT_S = 5
_URL_HINT = "use sqlite:///PATH/TO/fleetctl.db or postgresql://USER:PASSWORD@HOST:5432/DBNAME"


@dataclass(frozen=True)
class DatabaseURL:
    """A validated database URL. ``str()`` never shows the password."""

    url: URL

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.url.get_backend_name()

    @property
    def sqlite_path(self) -> Path | None:
        """The database file for SQLite, None for PostgreSQL or an in-memory database."""
        if self.backend != "sqlite" or self.url.database in (None, "", ":memory:"):
            return None
        return Path(self.url.database or "")

    def redacted(self) -> str:
        """The URL as a person writes it, with its password replaced by ``***``."""
        return self.url.set(drivername=self.backend).render_as_string(hide_password=True)

    def __str__(self) -> str:
        return self.redacted()

    def __repr__(self) -> str:
        return f"DatabaseURL({self.redacted()!r})"


def parse_database_url(raw: str | None) -> DatabaseURL:
    """Validate a ``--db`` value; None means the default SQLite file."""
    if raw is None or not raw.strip():
        return DatabaseURL(make_url(f"sqlite:///{default_sqlite_path()}"))
    text = raw.strip()
    scheme = text.split(":", 1)[0].lower() if "://" in text else ""
    where = f"database URL {_scheme_only(text)}"
    if not scheme:
        raise DatabaseURLError("not a URL (no scheme://)", where="--db / FLEETCTL_DB", hint=_URL_HINT)
    try:
        url = make_url(text)
    except ArgumentError:
        raise DatabaseURLError("cannot be parsed", where=where, hint=_URL_HINT) from None
    register_secret(url.password if isinstance(url.password, str) else None)
    backend, _, driver = url.drivername.partition("+")
    if backend in ("postgres", "postgresql"):
        if driver not in ("", "psycopg"):
            raise DatabaseURLError(
                f"driver {driver!r} is not installed with fleetctl",
                where=where,
                hint="drop the +driver part: postgresql://...",
            )
        if not url.host and not url.query.get("host"):
            raise DatabaseURLError("has no host", where=where, hint=_URL_HINT)
        if not url.database:
            raise DatabaseURLError("has no database name", where=where, hint=_URL_HINT)
        return DatabaseURL(url.set(drivername="postgresql+psycopg"))
    if backend == "sqlite":
        if driver not in ("", "pysqlite"):
            raise DatabaseURLError(f"driver {driver!r} is not supported", where=where, hint="use sqlite:///PATH")
        return DatabaseURL(url.set(drivername="sqlite"))
    raise DatabaseURLError(f"unsupported database {backend!r}", where=where, hint=_URL_HINT)


def _scheme_only(text: str) -> str:
    """The URL with any credentials cut out, for messages."""
    return re.sub(r"//[^@/]*@", "//***@", text)[:200]


class Store:
    """A handle on the database: short read sessions and locked write sessions."""

    def __init__(self, url: DatabaseURL, *, echo: bool = False) -> None:
        self.url = url
        self.engine = _make_engine(url, echo=echo)
        self.write_engine = self.engine.execution_options(fleetctl_write=True)
        """The same pool, but every transaction takes the write lock up front (SQLite)."""
        # SQLite has one writer. Threads of this process queue on a lock instead of meeting in
        # SQLite's busy handler, whose sleeps grow to 100 ms; other processes still use busy_timeout.
        self._write_lock: threading.RLock | None = threading.RLock() if url.backend == "sqlite" else None
        self._group = _GroupCommit(self)
        self.created = False
        """True when opening made a new SQLite file (``open_store(create=True)``)."""

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.url.backend

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A short read transaction. Keep the block small: it pins a snapshot while open.

        Rows read in the block stay usable after it: they are detached before the transaction
        ends, since ending it with a rollback would otherwise expire them.
        """
        with self.translate_errors(), Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
            finally:
                session.expunge_all()
                session.rollback()

    @contextmanager
    def read_connection(self) -> Iterator[sa.Connection]:
        """A short read transaction on a plain connection, for Core queries that need no ORM objects."""
        with self.translate_errors(), self.engine.connect() as conn:
            try:
                yield conn
            finally:
                conn.rollback()

    def fetch(self, *statements: tuple[str, Mapping[str, Any]]) -> list[Sequence[Sequence[Any]]]:
        """Plain SQL statements (named ``:param`` style) in one read transaction; their rows, in order."""
        with self.read_connection() as conn:
            return [conn.execute(sa.text(sql), dict(params)).all() for sql, params in statements]

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction that commits on success and rolls back on any error."""
        with (
            self._write_lock or contextlib.nullcontext(),
            self.translate_errors(),
            Session(self.write_engine, expire_on_commit=False) as session,
        ):
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def write_grouped(self, statement: sa.Executable, params: dict[str, Any] | list[dict[str, Any]]) -> None:
        """Execute one small write (one row's parameters, or several rows') in a transaction
        shared with the concurrent ``write_grouped`` calls of other threads (group commit), and
        return once it is committed. A rollout's
        hundred node threads each record small rows: one commit (and one executemany per
        statement) for all that arrived together costs a fraction of a hundred."""
        self._group.run(_Ticket(statement, params))

    def write_soon(self, statement: sa.Executable, params: dict[str, Any]) -> None:
        """Queue one small write for the next group commit and return at once; a background
        thread commits it within ``SOON_S`` if no ``write_grouped`` takes it along first.

        For records a crash may lose without harm: an audit row's result (the row, written
        before the request with ``write_grouped``, then stays ``pending``). ``flush`` and
        ``close`` commit whatever is queued."""
        self._group.submit(_Ticket(statement, params))

    def flush(self) -> None:
        """Commit the writes ``write_soon`` queued."""
        self._group.flush()

    def ping(self) -> None:
        """Connect once, raising ``StoreUnreachableError`` if the database does not answer."""
        with self.translate_errors(), self.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def close(self) -> None:
        """Commit queued writes, then close every pooled connection."""
        self._group.stop()
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def translate_errors(self) -> Iterator[None]:
        try:
            yield
        except OperationalError as exc:
            if _is_connect_failure(exc):
                raise StoreUnreachableError(
                    _first_line(exc.orig),
                    where=f"database {self.url.redacted()}",
                    hint="check the server is running and the URL, user and password are right (--db or FLEETCTL_DB)",
                ) from None
            raise StoreError(_first_line(exc.orig), where=f"database {self.url.redacted()}") from exc
        except DBAPIError as exc:
            raise StoreError(_first_line(exc.orig), where=f"database {self.url.redacted()}") from exc


class _Ticket:
    __slots__ = ("done", "error", "params", "statement")

    def __init__(self, statement: sa.Executable, params: dict[str, Any] | list[dict[str, Any]]) -> None:
        self.statement = statement
        self.params = params if isinstance(params, list) else [params]
        self.done = False
        self.error: BaseException | None = None


SOON_S = 0.02  # how long write_soon tickets wait for company before the flusher commits them


class _GroupCommit:
    """Leader/follower group commit: whoever gets the flush lock commits every queued ticket."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._queue_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._queue: list[_Ticket] = []
        self._soon = threading.Event()  # a write_soon ticket waits
        self._flusher: threading.Thread | None = None
        self._stopping = False

    def submit(self, ticket: _Ticket) -> None:
        """Queue without waiting; the flusher thread (started on first use) commits it soon."""
        with self._queue_lock:
            self._queue.append(ticket)
            if self._flusher is None and not self._stopping:
                self._flusher = threading.Thread(target=self._flush_soon, name="store-write-soon", daemon=True)
                self._flusher.start()
        self._soon.set()

    def flush(self) -> None:
        """Commit everything queued now."""
        with self._flush_lock:
            with self._queue_lock:
                batch, self._queue = self._queue, []
            if batch:
                self._flush(batch)
        for ticket in batch:
            if ticket.error is not None:
                log.warning("a queued store write failed: %s", ticket.error)

    def stop(self) -> None:
        """Commit what is queued and end the flusher thread."""
        self._stopping = True
        self._soon.set()
        if self._flusher is not None:
            self._flusher.join(timeout=10)
        self.flush()

    def _flush_soon(self) -> None:
        while not self._stopping:
            self._soon.wait()
            self._soon.clear()
            time.sleep(SOON_S)  # let the writes of the same moment join one commit
            self.flush()

    def run(self, ticket: _Ticket) -> None:
        with self._queue_lock:
            self._queue.append(ticket)
        with self._flush_lock:
            if not ticket.done:  # nobody took it along yet: lead a batch
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._flush(batch)
        if ticket.error is not None:
            raise ticket.error

    def _flush(self, batch: list[_Ticket]) -> None:
        try:
            self._commit(batch)
        except Exception as exc:  # noqa: BLE001 - handed to the caller's thread, which raises it
            if len(batch) == 1:
                batch[0].error = exc
            else:  # one bad statement must not fail its neighbours: each alone, in its own transaction
                for ticket in batch:
                    try:
                        self._commit([ticket])
                    except Exception as single:  # noqa: BLE001 - as above
                        ticket.error = single
        finally:
            for ticket in batch:
                ticket.done = True

    def _commit(self, batch: list[_Ticket]) -> None:
        store = self._store
        lock = store._write_lock or contextlib.nullcontext()
        with lock, store.translate_errors(), store.write_engine.begin() as conn:
            for statement, tickets in itertools.groupby(batch, key=lambda t: t.statement):
                rows = [p for t in tickets for p in t.params]
                if rows:  # an empty list would execute once with no parameters at all
                    conn.execute(statement, rows)


def _first_line(exc: BaseException | None) -> str:
    text = str(exc or "unknown database error").strip().splitlines()
    return text[0] if text else "unknown database error"


def _is_connect_failure(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    if re.search(r'(database|role) "[^"]*" does not exist', text):
        return True
    return exc.connection_invalidated or any(
        s in text
        for s in (
            "connection refused",
            "connection failed",
            "could not connect",
            "password authentication failed",
            "timeout expired",
            "no such host",
            "could not translate host name",
            "unable to open database file",
        )
    )


def _make_engine(url: DatabaseURL, *, echo: bool) -> Engine:
    if url.backend == "sqlite":
        return _make_sqlite_engine(url, echo=echo)
    return sa.create_engine(
        url.url,
        echo=echo,
        pool_pre_ping=True,
        connect_args=_pg_connect_args(url),
    )


def _pg_connect_args(url: DatabaseURL) -> dict[str, object]:
    """Connection settings. JIT is off unless the URL sets ``options``: the on-call queries are
    short, and PostgreSQL's JIT would spend more compiling them (12 ms at 10,000 nodes) than running."""
    args: dict[str, object] = {"connect_timeout": PG_CONNECT_TIMEOUT_S, "application_name": "fleetctl"}
    if "options" not in sa.engine.make_url(url.url).query:
        args["options"] = "-c jit=off"
    return args


def _make_sqlite_engine(url: DatabaseURL, *, echo: bool) -> Engine:
    path = url.sqlite_path
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnreachableError(
                f"cannot create the directory for the database: {exc.strerror}",
                where=str(path.parent),
                hint="choose a writable place with --db sqlite:///PATH",
            ) from None
    engine = sa.create_engine(url.url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook below issue BEGIN, instead of pysqlite's own logic.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        if path is not None:
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        write = conn.get_execution_options().get("fleetctl_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine
