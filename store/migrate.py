"""Schema migrations: bring a database to this fleetctl's schema, and say where it stands.

Opening the store migrates it (``open_store``); ``fleetctl db upgrade`` does the same on
request. A database newer than this fleetctl is refused rather than guessed at.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from store.engine import Store, parse_database_url
from store.errors import SchemaError

_SCRIPTS = Path(__file__).with_name("migrations")
_MIGRATION_LOCK_ID = 0x666C6565  # "flee": one advisory lock id for fleetctl migrations


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_SCRIPTS))
    return cfg


def head_revision() -> str:
    """The newest schema revision this fleetctl knows."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "store/migrations has no revisions"
    return head


def current_revision(store: Store) -> str | None:
    """The database's schema revision, None when it was never migrated."""
    with store.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(store: Store) -> tuple[str | None, str]:
    """Migrate to the head revision. Returns (revision before, revision after).

    Safe when several processes open a new database at once: the migration runs under the
    write lock (an advisory lock on PostgreSQL) and re-reads the revision once it holds it.
    """
    head = head_revision()
    before = current_revision(store)
    if before == head:
        return before, head
    with store.write_engine.begin() as conn:
        if store.backend == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_ID})")
        before = MigrationContext.configure(conn).get_current_revision()
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
    scripts = ScriptDirectory.from_config(_config())
    revisions = [s.revision for s in scripts.walk_revisions(base="base", head="heads")]
    revisions.reverse()
    if current is None:
        return revisions
    return revisions[revisions.index(current) + 1 :] if current in revisions else []


def open_store(raw_url: str | None = None, *, migrate: bool = True) -> Store:
    """Open the store at ``raw_url`` (None: the default SQLite file), migrated to head."""
    store = Store(parse_database_url(raw_url))
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
