"""Label selectors as the API server accepts them, checked before a request is made."""

from __future__ import annotations

import re

_NAME = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)"
_KEY = rf"(?:(?:[a-z0-9](?:[-a-z0-9.]{{0,251}}[a-z0-9])?)/)?{_NAME}"
_VALUE = rf"(?:{_NAME})?"
_REQUIREMENT = re.compile(
    rf"""\s*(?:
        !\s*{_KEY}                                        # !key
      | {_KEY}\s*(?:==|!=|=)\s*{_VALUE}                   # key=value, key==value, key!=value
      | {_KEY}\s+(?:in|notin)\s*\(\s*{_VALUE}(?:\s*,\s*{_VALUE})*\s*\)   # key in (a, b)
      | {_KEY}                                            # key
    )\s*""",
    re.VERBOSE,
)


def label_selector_problem(text: str) -> str | None:
    """What is wrong with ``text`` as a label selector (``name=kata-deploy,tier!=test``), or None."""
    if not text.strip():
        return "it is empty (it would select every pod)"
    depth, start = 0, 0
    parts = []
    for i, ch in enumerate(text):  # split on commas outside parentheses
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    for part in parts:
        if not _REQUIREMENT.fullmatch(part):
            return f"{part.strip()!r} is not a requirement (write key=value, key!=value, key in (a,b), key or !key)"
    return None
