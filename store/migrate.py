"""Schema migrations: bring a database to this fleetctl's schema, and say where it stands.

Opening the store migrates it (``open_store``); ``fleetctl db upgrade`` does the same on
request. A database newer than this fleetctl is refused rather than guessed at. An
up-to-date store costs one small query on open: Alembic loads only when there is work.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from store.engine import Store, parse_database_url
from store.errors import DatabaseURLError, SchemaError, StoreMissingError
from store.migrations import HEAD

if TYPE_CHECKING:
    from alembic.config import Config

_SCRIPTS = Path(__file__).with_name("migrations")
_MIGRATION_LOCK_ID = 0x666C6565  # "flee": one advisory lock id for fleetctl migrations


def _config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    return cfg


def head_revision() -> str:
    """The newest schema revision this fleetctl knows."""
    return HEAD


def alembic_head() -> str | None:
    """The head as Alembic reads it from the scripts (what ``HEAD`` must equal)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(store: Store) -> str | None:
    """The database's schema revision, None when it was never migrated."""
    with store.engine.connect() as conn:
        return _stored_revision(conn)


def _stored_revision(conn: sa.Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def upgrade(store: Store) -> tuple[str | None, str]:
    """Migrate to the head revision. Returns (revision before, revision after).

    Safe when several processes open a new database at once: the migration runs under the
    write lock (an advisory lock on PostgreSQL) and re-reads the revision once it holds it.
    """
    head = head_revision()
    before = current_revision(store)
    if before == head:
        return before, head
    from alembic import command

    with store.write_engine.begin() as conn:
        if store.backend == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_ID})")
        before = _stored_revision(conn)
        if before == head:
            return before, head
        if before is not None and before not in pending_revisions(None):
            raise SchemaError(
                f"the database has schema revision {before}, which this fleetctl does not know",
                where=f"database {store.url.redacted()}",
                hint="upgrade fleetctl to the version that last wrote this database",
            )
        cfg = _config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return before, head


def pending_revisions(current: str | None) -> list[str]:
    """Revisions from ``current`` (exclusive) to head, oldest first."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(_config())
    revisions = [s.revision for s in scripts.walk_revisions(base="base", head="heads")]
    revisions.reverse()
    if current is None:
        return revisions
    return revisions[revisions.index(current) + 1 :] if current in revisions else []


def open_store(raw_url: str | None = None, *, migrate: bool = True, create: bool = True) -> Store:
    """Open the store at ``raw_url`` (None: the default SQLite file), migrated to head.

    A SQLite file that does not exist is created (``store.created`` then says so) unless
    ``create`` is False, as it is for the CLI's commands that only read or run from a store:
    for them a missing file is a ``StoreMissingError``, so a typo'd ``--db`` never silently
    starts an empty store. A directory that does not exist is refused for any explicit path.
    """
    url = parse_database_url(raw_url)
    path = url.sqlite_path
    created = path is not None and not path.exists()
    if path is not None and created:
        explicit = bool(raw_url and raw_url.strip())
        where = f"--db {url.redacted()}" if explicit else "store"
        if explicit and not path.parent.is_dir():
            raise DatabaseURLError(
                f"the directory {path.parent} does not exist",
                where=where,
                hint="fix the path, or create the directory first (mkdir -p)",
            )
        if not create:
            raise StoreMissingError(
                f"there is no fleetctl store at {path}"
                if explicit
                else f"there is no fleetctl store yet at {path} (the default)",
                where=where,
                hint="check the path; or create and fill a store with: fleetctl collect",
            )
    store = Store(url)
    store.created = created
    try:
        with store.translate_errors():
            if migrate:
                upgrade(store)
            else:
                store.ping()
    except BaseException:
        store.close()
        raise
    return store
