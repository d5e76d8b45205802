"""Node annotations fleetctl itself writes and reads, and Kubernetes timestamps (pure).

``INSTALLED_AT_ANNOTATION`` is written by the upgrade engine when a node's install step finishes,
and read by the inventory collector to tell which Kata sandboxes still run the previous release.
Both sides use ``installed_at_value`` and ``read_installed_at``, so they agree on the format.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

INSTALLED_AT_ANNOTATION = "upgrade.fleetctl.io/installed-at"
"""RFC 3339 time at which fleetctl's last Kata install on the node finished."""


def parse_timestamp(value: object) -> datetime | None:
    """An RFC 3339 timestamp (``2026-11-26T17:30:52Z``) in UTC; None when missing, malformed or without a zone."""
    if not isinstance(value, str) or not value:
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at.astimezone(UTC) if at.tzinfo is not None else None


def installed_at_value(at: datetime) -> str:
    """The annotation's value for an install that finished at ``at`` (second precision, UTC, ``Z``)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_installed_at(annotations: Mapping[str, object]) -> datetime | None:
    """The node's last fleetctl install time, from its annotations; None when absent or unreadable."""
    return parse_timestamp(annotations.get(INSTALLED_AT_ANNOTATION))
