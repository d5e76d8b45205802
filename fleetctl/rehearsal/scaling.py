"""A plan document for a simulator running ``scale`` times faster than real time.

The executor waits in real seconds while the simulator's kubelets and installers count scaled
ones, so every wait the plan sets (drain timeout, build wait, install and smoke timeouts, soak,
gate intervals, and the range selectors and offsets of gate queries) is divided by the scale;
defaults are written out first, so they shrink too.
Grace periods are not: they go to the API, which the simulator already scales. The window is
dropped: a rehearsal runs now, and the report compares its duration with the window instead.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from upgrades.planfile import PlanSpec


def scaled_document(spec: PlanSpec, scale: float, *, gates: bool) -> dict[str, Any]:
    """``spec``'s document with its waits divided by ``scale``; gates off unless ``gates``."""
    doc = copy.deepcopy(spec.source)
    body = doc.setdefault("spec", {})
    body.pop("window", None)

    def put(section: str, key: str, seconds: float) -> None:
        body.setdefault(section, {})[key] = f"{seconds / scale:.3f}s"

    put("drain", "timeout", spec.drain.timeout_s)
    put("drain", "buildWaitLimit", spec.drain.build_wait_s)
    put("install", "timeout", spec.install.timeout_s)
    if spec.verify.smoke is not None:
        body["verify"]["smoke"]["timeout"] = f"{spec.verify.smoke.timeout_s / scale:.3f}s"
    if not gates or not spec.gates.enabled:
        body["gates"] = {"enabled": False}
        return doc
    put("gates", "soak", spec.gates.soak_s)
    for check, parsed in zip(body["gates"].get("checks") or [], spec.gates.checks, strict=True):
        check["interval"] = f"{parsed.interval_s / scale:.3f}s"
        check["query"] = scaled_query(parsed.query, scale)
    return doc


_STRING = re.compile(r"""("(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)""")
_RANGE = re.compile(r"\[\s*([0-9a-z]+)\s*(?::\s*([0-9a-z]*)\s*)?\]")
_OFFSET = re.compile(r"\boffset\s+(-?)([0-9a-z]+)")
_PROM_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_PROM_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
MIN_RANGE_MS = 4000  # the simulators are scraped every second: a range needs a few samples


def scaled_query(query: str, scale: float) -> str:
    """PromQL with its range selectors, subquery steps and offsets divided by ``scale``:
    ``rate(x[5m])`` at x30 becomes ``rate(x[10000ms])``."""

    def short(text: str, floor: int) -> str:
        seconds = _prom_seconds(text)
        return text if seconds is None else f"{max(floor, round(seconds * 1000 / scale))}ms"

    def scale_range(m: re.Match[str]) -> str:
        step = m[2]
        inner = short(m[1], MIN_RANGE_MS) + (f":{short(step, 1000) if step else ''}" if step is not None else "")
        return f"[{inner}]"

    def scale_offset(m: re.Match[str]) -> str:
        return f"offset {m[1]}{short(m[2], 0)}"

    parts = _STRING.split(query)  # strings (label values) at odd positions stay as written
    return "".join(
        part if i % 2 else _OFFSET.sub(scale_offset, _RANGE.sub(scale_range, part)) for i, part in enumerate(parts)
    )


def _prom_seconds(text: str) -> float | None:
    """A PromQL duration (``1h30m``) in seconds; None when it is not one (left as written)."""
    pos, total = 0, 0.0
    for m in _PROM_PART.finditer(text):
        if m.start() != pos:
            return None
        total += int(m[1]) * _PROM_UNITS[m[2]]
        pos = m.end()
    return total if text and pos == len(text) else None
