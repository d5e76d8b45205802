"""Scheduled rollouts: a plan, the window it runs in, and the last opening it ran for."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from store.engine import Store
from store.errors import BadInputError
from store.models import Schedule, now


def add_schedule(
    store: Store,
    *,
    name: str,
    plan: dict[str, Any],
    window: str,
    duration_s: float,
    timezone: str,
    exclude: list[tuple[date, date]],
) -> Schedule:
    """Store a new schedule; its name must be free."""
    with store.write() as session:
        if session.exec(select(Schedule).where(col(Schedule.name) == name)).first() is not None:
            raise BadInputError(
                f"a schedule named {name!r} exists",
                where="--name",
                hint=f"pick another --name, or remove it first: fleetctl schedule remove {name}",
            )
        at = now()
        row = Schedule(
            name=name, plan=plan, window_schedule=window, duration_s=duration_s, timezone=timezone,
            exclude=[[a.isoformat(), b.isoformat()] for a, b in exclude], created_at=at, updated_at=at,
        )  # fmt: skip
        session.add(row)
        session.flush()
        session.refresh(row)
        return row


def list_schedules(store: Store) -> list[Schedule]:
    """Every schedule, in the order they were added."""
    with store.read() as session:
        return list(session.exec(select(Schedule).order_by(col(Schedule.id))).all())


def get_schedule(store: Store, ref: str | int) -> Schedule:
    """One schedule by id or name."""
    with store.read() as session:
        row = _find(session, ref)
    if row is None:
        raise BadInputError(f"there is no schedule {ref!r}", where="schedule", hint="fleetctl schedule list")
    return row


def remove_schedule(store: Store, ref: str | int) -> Schedule:
    """Delete one schedule (runs it started stay); returns what was removed."""
    with store.write() as session:
        row = _find(session, ref)
        if row is None:
            raise BadInputError(f"there is no schedule {ref!r}", where="schedule", hint="fleetctl schedule list")
        session.delete(row)
        return row


def record_opening(store: Store, schedule_id: int, opening: datetime, run_id: int | None, message: str) -> bool:
    """Note that ``opening`` was acted on; False when it already was (another replica, a re-fire)."""
    with store.write() as session:
        updated = session.execute(
            sa.update(Schedule)
            .where(
                col(Schedule.id) == schedule_id,
                sa.or_(col(Schedule.last_opening).is_(None), col(Schedule.last_opening) < opening),
            )
            .values(last_opening=opening, last_run_id=run_id, message=message[:2000], updated_at=now())
        )
        return bool(updated.rowcount)  # type: ignore[attr-defined]


def set_schedule_run(store: Store, schedule_id: int, run_id: int | None, message: str) -> None:
    """Record the run a schedule's current opening started."""
    with store.write() as session:
        session.execute(
            sa.update(Schedule)
            .where(col(Schedule.id) == schedule_id)
            .values(last_run_id=run_id, message=message[:2000], updated_at=now())
        )


def _find(session: Any, ref: str | int) -> Schedule | None:
    text = str(ref).strip()
    if text.isdigit():
        row: Schedule | None = session.get(Schedule, int(text))
        if row is not None:
            return row
    found: Schedule | None = session.exec(select(Schedule).where(col(Schedule.name) == text)).first()
    return found
