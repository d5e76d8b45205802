"""Database URLs: what is accepted, and that passwords never show."""

from __future__ import annotations

import pytest

from store.engine import default_sqlite_path, parse_database_url
from store.errors import DatabaseURLError
from store.redaction import redact


def test_default_is_sqlite_in_the_xdg_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", "/srv/data")
    url = parse_database_url(None)
    assert url.backend == "sqlite"
    assert url.sqlite_path == default_sqlite_path()
    assert str(url.sqlite_path) == "/srv/data/fleetctl/fleetctl.db"


@pytest.mark.parametrize("raw", ["postgresql://u:s3cret@db:5432/fleet", "postgres://u:s3cret@db/fleet"])
def test_postgres_urls_use_psycopg_and_hide_the_password(raw: str) -> None:
    url = parse_database_url(raw)
    assert url.backend == "postgresql"
    assert url.url.drivername == "postgresql+psycopg"
    for shown in (str(url), repr(url), url.redacted()):
        assert "s3cret" not in shown
        assert "postgresql://u:***@db" in shown


def test_a_parsed_password_is_redacted_everywhere_afterwards() -> None:
    parse_database_url("postgresql://u:hunter2hunter2@db/fleet")
    assert redact("login failed for hunter2hunter2") == "login failed for ***"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("mysql://u:pw1234@h/x", "unsupported database 'mysql'"),
        ("/var/lib/fleet.db", "not a URL"),
        ("postgresql://u:pw1234@/x", "has no host"),
        ("postgresql://u:pw1234@h", "has no database name"),
        ("postgresql+asyncpg://u:pw1234@h/x", "driver 'asyncpg'"),
    ],
)
def test_bad_urls_are_refused_without_echoing_the_password(raw: str, problem: str) -> None:
    with pytest.raises(DatabaseURLError) as info:
        parse_database_url(raw)
    assert problem in str(info.value)
    assert "pw1234" not in str(info.value)
    assert info.value.hint
