"""A failed network call in plain words: ``connection refused``, not ``ConnectionError:
HTTPConnectionPool(host=..., port=...): Max retries exceeded with url: ... (Caused by ...)``.

Messages that reach a person (check results, gate verdicts, errors) say what happened; the
library's exception text stays out of them.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import urllib.error

_MAX_DEPTH = 8


def plain_reason(exc: BaseException, *, timeout_s: float | None = None) -> str:
    """What went wrong with a request, in a few words."""
    for cause in _causes(exc):
        if isinstance(cause, urllib.error.HTTPError):
            return f"HTTP {cause.code}"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused (is it running, and is the port right?)"
        if isinstance(cause, socket.gaierror):
            return "host name not found"
        if isinstance(cause, ConnectionResetError):
            return "the connection was reset"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted ({cause.verify_message})"
        if isinstance(cause, ssl.SSLError):
            return "TLS handshake failed"
        if isinstance(cause, TimeoutError) or "Timeout" in type(cause).__name__:
            return f"no answer within {timeout_s:g}s" if timeout_s else "timed out"
    status = re.search(r"HTTP Status Code (\d+)", str(exc))
    if status:
        detail = _prometheus_error(str(exc))
        return f"HTTP {status.group(1)}" + (f": {detail}" if detail else "")
    return "cannot connect"


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception, what caused it, and what those carry (urllib3's ``reason``, requests' args)."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo and len(seen) < _MAX_DEPTH * 4:
        current = todo.pop(0)
        if any(current is s for s in seen):
            continue
        seen.append(current)
        linked = (current.__cause__, current.__context__, getattr(current, "reason", None))
        todo += [c for c in linked if isinstance(c, BaseException)]
        todo += [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]
    return seen


def _prometheus_error(text: str) -> str:
    """The ``error`` of a Prometheus API answer quoted in prometheus-api-client's message."""
    body = re.search(r"b'(\{.*\})'", text)
    if not body:
        return ""
    try:
        doc = json.loads(body.group(1).encode().decode("unicode_escape"))
    except ValueError:
        return ""
    return str(doc.get("error", ""))[:160] if isinstance(doc, dict) else ""
