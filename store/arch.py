"""CPU architectures, named as Kubernetes names them (``kubernetes.io/arch``)."""

from __future__ import annotations

from enum import StrEnum

from store.errors import ArchError


class Arch(StrEnum):
    """The architectures Kata ships for."""

    AMD64 = "amd64"
    ARM64 = "arm64"
    PPC64LE = "ppc64le"
    S390X = "s390x"


_ALIASES = {
    "amd64": Arch.AMD64,
    "x86_64": Arch.AMD64,
    "x86-64": Arch.AMD64,
    "arm64": Arch.ARM64,
    "aarch64": Arch.ARM64,
    "ppc64le": Arch.PPC64LE,
    "ppc64el": Arch.PPC64LE,
    "s390x": Arch.S390X,
}


def normalize_arch(text: str) -> Arch:
    """Map ``uname -m`` and distro spellings to the Kubernetes name: ``x86_64`` -> ``amd64``."""
    key = text.strip().lower() if isinstance(text, str) else ""
    try:
        return _ALIASES[key]
    except KeyError:
        shown = text if isinstance(text, str) and len(text) <= 40 else repr(text)[:40]
        raise ArchError(
            f"unknown CPU architecture {shown!r}",
            hint="use one of amd64, arm64, ppc64le, s390x (x86_64 and aarch64 are accepted too)",
        ) from None
