"""Keeping the store's release catalog filled, and the guest kernel pins collectors compare with."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from collectors.releases.feed import bundled_catalog
from store.engine import Store
from store.models import Release
from store.releases import SyncResult, release_count, upsert_releases


def ensure_catalog(store: Store) -> SyncResult | None:
    """Load the bundled catalog into an empty store, so everything works offline."""
    with store.read() as session:
        if release_count(session):
            return None
    with store.write() as session:
        return upsert_releases(session, bundled_catalog(), source="bundled", at=datetime.now(UTC))


def kernel_pins(store: Store) -> dict[str, str]:
    """Release -> pinned guest kernel build (``6.18.35-202``)."""
    ensure_catalog(store)
    with store.read() as session:
        return {r.version: r.guest_kernel for r in session.exec(select(Release)) if r.guest_kernel}
