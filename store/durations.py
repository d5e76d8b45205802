"""Durations as people write them: 30s, 5m, 4h, 90d, 1h30m."""

from __future__ import annotations

import re
from datetime import timedelta

from store.errors import BadInputError

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, *, where: str = "duration") -> timedelta:
    """Parse ``30s``, ``5m``, ``1h30m``, ``90d``; a bare number is seconds."""
    raw = text.strip().lower() if isinstance(text, str) else ""
    if re.fullmatch(r"\d+(\.\d+)?", raw):
        return timedelta(seconds=float(raw))
    pos, total = 0, 0.0
    for m in _PART.finditer(raw):
        if m.start() != pos:
            break
        total += float(m[1]) * _UNITS[m[2]]
        pos = m.end()
    if not raw or pos != len(raw):
        raise BadInputError(f"{text!r} is not a duration", where=where, hint="write it like 30s, 5m, 4h, 90d or 1h30m")
    return timedelta(seconds=total)


def format_duration(delta: timedelta) -> str:
    """kubectl-style short form: 45s, 12m, 3h, 5d."""
    s = int(delta.total_seconds())
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h"
    return f"{s // 86400}d"
