"""Kubernetes API errors, keyed by HTTP status, as part of fleetctl's one error tree.

FleetctlError (store.errors)
└── KubeApiError                 a Kubernetes API call failed                 (exit 3)
    ├── KubeTemporaryError       also an UnreachableError: it did not answer as it should,
    │   │                        worth retrying; carries ``retry_after`` seconds
    │   ├── KubeThrottled        429
    │   ├── KubeServerError      5xx
    │   └── KubeConnectionError  refused, reset, timed out, TLS
    └── KubePermanentError       also a RefusedError: it answered no; retrying will not help
        ├── KubeUnauthorized     401: the kubeconfig's credentials are wrong or expired
        ├── KubeForbidden        403: RBAC does not allow the call (the message names it)
        ├── KubeNotFound         404: the object is not there
        ├── KubeConflict         409: a stale resourceVersion
        ├── KubeGone             410: history expired; relist
        └── KubeInvalid          400, 422: the request was wrong
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from store.errors import FleetctlError, RefusedError, UnreachableError


class KubeApiError(FleetctlError):
    """A Kubernetes API call failed."""

    status: int = 0

    def __init__(
        self, message: str, *, where: str | None = None, hint: str | None = None, status: int = 0, reason: str = ""
    ) -> None:
        super().__init__(message, where=where, hint=hint)
        self.status = status or self.status
        self.reason = reason


class KubeTemporaryError(KubeApiError, UnreachableError):
    """Retry after ``retry_after`` seconds."""

    retry_after: float = 1.0


class KubeThrottled(KubeTemporaryError):
    status = 429


class KubeServerError(KubeTemporaryError):
    status = 500


class KubeConnectionError(KubeTemporaryError):
    status = 0


class KubePermanentError(KubeApiError, RefusedError):
    """Retrying the same call will not help."""


class KubeUnauthorized(KubePermanentError):
    status = 401


class KubeForbidden(KubePermanentError):
    status = 403


class KubeNotFound(KubePermanentError):
    status = 404


class KubeConflict(KubePermanentError):
    status = 409


class KubeGone(KubePermanentError):
    status = 410


class KubeInvalid(KubePermanentError):
    status = 422


_BY_STATUS: dict[int, type[KubeApiError]] = {
    401: KubeUnauthorized,
    403: KubeForbidden,
    404: KubeNotFound,
    409: KubeConflict,
    410: KubeGone,
    400: KubeInvalid,
    422: KubeInvalid,
    429: KubeThrottled,
}
_HINTS = {
    401: "the kubeconfig's credentials were refused; refresh them (or check --context)",
    403: "the user lacks RBAC rights for this call; see deploy/ for the ClusterRole fleetctl needs",
}


def from_status(status: int, body: bytes | str | None, *, where: str, retry_after: str | None = None) -> KubeApiError:
    """The error for an HTTP status and its ``Status`` body."""
    message, reason = f"HTTP {status}", ""
    try:
        data: Any = json.loads(body or b"{}")
        if isinstance(data, dict):
            message = str(data.get("message") or message)[:500]
            reason = str(data.get("reason") or "")
    except ValueError:
        pass
    cls = _BY_STATUS.get(status) or (KubeServerError if status >= 500 else KubePermanentError)
    error = cls(message, where=where, hint=_HINTS.get(status), status=status, reason=reason)
    if isinstance(error, KubeTemporaryError) and retry_after:
        with contextlib.suppress(ValueError):
            error.retry_after = float(retry_after)
    return error
