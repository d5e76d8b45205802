"""Health check results: ok, warn, crit or unknown, always with a reason."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    """The outcome of a check. ``unknown`` means no data or a failed query, never ok."""

    OK = "ok"
    UNKNOWN = "unknown"
    WARN = "warn"
    CRIT = "crit"

    @property
    def rank(self) -> int:
        """Badness for "worst of" summaries: ok < unknown < warn < crit."""
        return _RANK[self]


_RANK = {Status.OK: 0, Status.UNKNOWN: 1, Status.WARN: 2, Status.CRIT: 3}


@dataclass(frozen=True)
class CheckResult:
    """One check's result on one node.

    ``code`` is stable across releases (such as ``KATA010``) so scripts and alerts can key on it.
    ``remediation`` says what an on-call engineer should do when the result is not ok.
    """

    code: str
    status: Status
    reason: str
    value: float | None = None
    remediation: str | None = None

    def __post_init__(self) -> None:
        if not self.code:
            raise ValueError("a check result needs a code")
        if not self.reason:
            raise ValueError(f"check {self.code}: every result needs a reason, ok included")


def worst(statuses: list[Status]) -> Status:
    """The worst status of several; ok when there are none."""
    return max(statuses, key=lambda s: s.rank, default=Status.OK)
