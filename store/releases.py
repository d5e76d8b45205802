"""The release catalog in the store: upsert from a feed or the bundled catalog, and read it back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from store.models import Release
from store.versions import KataVersion


@dataclass(frozen=True)
class ReleaseInfo:
    """One Kata release as a feed or the bundled catalog describes it."""

    version: str
    published_at: datetime | None = None
    prerelease: bool = False
    guest_kernel: str | None = None  # "<kernel version>-<config number>", the release's pin
    hypervisors: dict[str, str] = field(default_factory=dict)
    arches: tuple[str, ...] = ()
    assets: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class SyncResult:
    """What a catalog sync changed."""

    added: int
    updated: int
    unchanged: int


def upsert_releases(session: Session, releases: Sequence[ReleaseInfo], *, source: str, at: datetime) -> SyncResult:
    """Insert new releases and update changed ones. A feed never erases a pin the bundled catalog knows."""
    existing = {r.version: r for r in session.exec(select(Release))}
    added = updated = unchanged = 0
    for info in releases:
        values: dict[str, Any] = {
            "sort_key": KataVersion.parse(info.version).sort_key(),
            "published_at": info.published_at,
            "prerelease": info.prerelease,
            "arches": sorted(info.arches),
            "assets": list(info.assets),
        }
        row = existing.get(info.version)
        if row is None:
            session.add(
                Release(
                    version=info.version,
                    guest_kernel=info.guest_kernel,
                    hypervisors=dict(info.hypervisors),
                    source=source,
                    synced_at=at,
                    **values,
                )
            )
            added += 1
            continue
        if info.guest_kernel:
            values["guest_kernel"] = info.guest_kernel
        if info.hypervisors:
            values["hypervisors"] = dict(info.hypervisors)
        if not values["arches"]:
            values.pop("arches")
        if not values["assets"]:
            values.pop("assets")
        if values.get("published_at") is None:
            values.pop("published_at")
        changed = {k: v for k, v in values.items() if getattr(row, k) != v}
        if changed:
            for k, v in changed.items():
                setattr(row, k, v)
            row.synced_at = at
            session.add(row)
            updated += 1
        else:
            unchanged += 1
    session.flush()
    return SyncResult(added, updated, unchanged)


def list_releases(session: Session, *, include_prereleases: bool = False) -> list[Release]:
    """The catalog, newest first."""
    query = select(Release).order_by(col(Release.sort_key).desc())
    if not include_prereleases:
        query = query.where(col(Release.prerelease).is_(False))
    return list(session.exec(query))


def release_count(session: Session) -> int:
    """How many releases the catalog holds."""
    return int(session.execute(sa.select(sa.func.count()).select_from(Release)).scalar_one())


def nodes_per_release(session: Session) -> dict[str | None, int]:
    """How many present (not gone) nodes run each release; None for nodes whose release is unknown."""
    from store.models import Node, NodeState

    rows = session.execute(
        sa.select(col(NodeState.kata_version), sa.func.count())
        .join(Node, col(Node.id) == col(NodeState.node_id))
        .where(col(Node.gone_at).is_(None))
        .group_by(col(NodeState.kata_version))
    )
    return {version: int(count) for version, count in rows}
