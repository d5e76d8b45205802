"""Keeping the store's release catalog filled, and the guest kernel pins collectors compare with."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from collectors.releases.feed import bundled_catalog
from collectors.releases.schema import FLAVOURS, load_catalog
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


def flavour_kernel_pins() -> dict[str, dict[str, str]]:
    """Release -> flavour -> pinned kernel build (``{"3.24.0": {"default": "6.12.47-173", "nvidia-gpu": "6.16.7-173"}}``).

    From the bundled catalog: the store keeps the default flavour's pin only. A flavour whose kernel
    the catalog does not know is left out.
    """
    out: dict[str, dict[str, str]] = {}
    for release in load_catalog().releases:
        builds = {f: b for f in FLAVOURS if (b := release.kernel_build(f)) is not None}
        if builds:
            out[release.version] = builds
    return out
