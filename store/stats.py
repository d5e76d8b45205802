"""Counting what the store holds, for ``fleetctl db info``."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session, SQLModel

import store.models  # noqa: F401 - registers the tables whose rows are counted


def table_counts(session: Session) -> dict[str, int]:
    """Rows per table, in schema order."""
    counts: dict[str, int] = {}
    for table in SQLModel.metadata.sorted_tables:
        counts[str(table.name)] = int(session.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
    return counts
