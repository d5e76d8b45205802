"""Migrations create exactly the models' schema, and opening is safe to race."""

from __future__ import annotations

import threading

import psycopg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from store.engine import Store, parse_database_url
from store.errors import SchemaError
from store.migrate import current_revision, head_revision, open_store, pending_revisions, upgrade


def test_migrations_match_the_models(store: Store) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
    assert diff == []
    assert current_revision(store) == head_revision()


def test_pending_revisions_walk_from_empty_to_head() -> None:
    assert pending_revisions(None)[-1] == head_revision()
    assert pending_revisions(head_revision()) == []


def test_reopening_is_a_no_op(db_url: str) -> None:
    s = open_store(db_url)
    try:
        assert upgrade(s) == (head_revision(), head_revision())
    finally:
        s.close()


def test_a_newer_schema_is_refused(db_url: str) -> None:
    s = open_store(db_url)
    try:
        with s.write() as session:
            session.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(SchemaError, match="9999"):
            upgrade(s)
    finally:
        s.close()


@pytest.mark.postgres
def test_two_processes_opening_a_new_postgres_database_at_once(pg_base_url: str) -> None:
    with psycopg.connect(f"{pg_base_url}/postgres", autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS fleetctl_race WITH (FORCE)")
        conn.execute("CREATE DATABASE fleetctl_race")
    errors: list[BaseException] = []

    def opener() -> None:
        try:
            open_store(f"{pg_base_url}/fleetctl_race").close()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    s = Store(parse_database_url(f"{pg_base_url}/fleetctl_race"))
    try:
        assert current_revision(s) == head_revision()
    finally:
        s.close()
