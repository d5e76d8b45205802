"""Kata release versions: parsing, ordering, and a sort key the database can compare.

Kata tags are ``MAJOR.MINOR.PATCH`` with rare pre-releases (``3.0.0-rc0``, ``3.3.0-alpha0``).
Nodes built from git report ``git describe`` strings such as ``3.3.0-alpha0-2414-g09a13da8e``:
2414 commits after ``3.3.0-alpha0``. Those order after their base tag and before the next one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from store.errors import VersionParseError

_PRE_KINDS = {"alpha": "a", "beta": "b", "rc": "r"}
_RELEASE_MARK = "z"  # sorts after every pre-release mark

_VERSION_RE = re.compile(
    r"""
    ^v?(?P<major>0|[1-9]\d{0,4})\.(?P<minor>0|[1-9]\d{0,4})(?:\.(?P<patch>0|[1-9]\d{0,4}))?
    (?:-(?P<pre_kind>alpha|beta|rc)(?P<pre_num>\d{1,5}))?
    (?:-(?P<distance>\d{1,7})-g(?P<commit>[0-9a-f]{7,40}))?
    (?P<dirty>-dirty)?$
    """,
    re.VERBOSE,
)

_HINT = "a Kata version looks like 3.28.0, 4.1.0-rc0 or 3.3.0-alpha0-2414-g09a13da8e"


@dataclass(frozen=True, order=False)
class KataVersion:
    """A Kata release, pre-release or git-describe build, ordered as releases are."""

    major: int
    minor: int
    patch: int = 0
    pre_kind: str | None = None
    pre_num: int = 0
    distance: int = 0
    commit: str | None = field(default=None, compare=False)
    dirty: bool = field(default=False, compare=False)

    @classmethod
    def parse(cls, text: str, *, allow_partial: bool = False) -> KataVersion:
        """Parse a version; ``allow_partial`` accepts ``MAJOR.MINOR`` as ``MAJOR.MINOR.0``."""
        raw = text.strip() if isinstance(text, str) else text
        if not isinstance(raw, str) or not raw:
            raise VersionParseError("empty Kata version", hint=_HINT)
        m = _VERSION_RE.match(raw)
        if m is None:
            shown = raw if len(raw) <= 60 else raw[:57] + "..."
            raise VersionParseError(f"{shown!r} is not a Kata version", hint=_HINT)
        if m["patch"] is None and not allow_partial:
            raise VersionParseError(f"{raw!r} has no patch number", hint=_HINT)
        return cls(
            major=int(m["major"]),
            minor=int(m["minor"]),
            patch=int(m["patch"] or 0),
            pre_kind=m["pre_kind"],
            pre_num=int(m["pre_num"] or 0),
            distance=int(m["distance"] or 0),
            commit=m["commit"],
            dirty=m["dirty"] is not None,
        )

    @classmethod
    def try_parse(cls, text: str | None) -> KataVersion | None:
        """The version in ``text``, or None where it is missing or not a Kata version (a digest, ``latest``)."""
        if not text:
            return None
        try:
            return cls.parse(text)
        except VersionParseError:
            return None

    @property
    def is_release(self) -> bool:
        """True for a plain tagged release, such as 4.1.0."""
        return self.pre_kind is None and self.distance == 0 and not self.dirty

    @property
    def release(self) -> KataVersion:
        """The ``MAJOR.MINOR.PATCH`` this version belongs to or leads up to."""
        return KataVersion(self.major, self.minor, self.patch)

    def sort_key(self) -> str:
        """A fixed-width string whose text order is the release order (for SQL)."""
        mark = _PRE_KINDS[self.pre_kind] if self.pre_kind else _RELEASE_MARK
        return f"{self.major:05d}.{self.minor:05d}.{self.patch:05d}{mark}{self.pre_num:05d}.{self.distance:07d}"

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, KataVersion):
            return NotImplemented
        return self.sort_key() < other.sort_key()

    def __le__(self, other: object) -> bool:
        if not isinstance(other, KataVersion):
            return NotImplemented
        return self.sort_key() <= other.sort_key()

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, KataVersion):
            return NotImplemented
        return self.sort_key() > other.sort_key()

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, KataVersion):
            return NotImplemented
        return self.sort_key() >= other.sort_key()

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.pre_kind:
            text += f"-{self.pre_kind}{self.pre_num}"
        if self.distance:
            text += f"-{self.distance}-g{self.commit}"
        if self.dirty:
            text += "-dirty"
        return text


def parse_runtime_version_output(text: str) -> tuple[KataVersion, str | None]:
    """Read ``kata-runtime --version`` output: ``kata-runtime : 3.6.0 / commit : <sha> ...``.

    Returns the version and the commit, if the output names one.
    """
    version = re.search(r"kata-runtime\s*:\s*(\S+)", text)
    if version is None:
        raise VersionParseError(
            "no 'kata-runtime : VERSION' line in kata-runtime --version output",
            hint="run `kata-runtime --version` on the node and check it prints a version",
        )
    commit = re.search(r"commit\s*:\s*([0-9a-f]{7,40})", text)
    return KataVersion.parse(version[1]), commit[1] if commit else None
