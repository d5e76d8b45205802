"""The API request log that ``/_sim/requests`` serves (RBAC tests match each change with its audit row)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RequestRecord:
    """One API request, as an RBAC rule sees it, with the object's name and (for writes) the
    response status, so a test can match each change with the caller's own records."""

    verb: str
    group: str
    resource: str
    subresource: str | None
    namespace: str | None
    name: str | None = None
    status: int | None = None  # writes only: the HTTP status answered
