"""Guest kernel builds, read from the kernel path a node reports.

Upstream names guest kernels ``vmlinux-<kernel version>-<kata config version>[-<flavour>]``,
for example ``/opt/kata/share/kata-containers/vmlinux-6.18.35-202-confidential``. A team's
own kernel may follow another scheme (``vmlinux-6.12.40-acme7``); it still parses, with no
config number, so it can be shown and compared with its release's pin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from store.errors import KernelParseError

KNOWN_FLAVOURS = ("confidential", "debug", "nvidia-gpu", "nvidia-gpu-confidential", "dragonball-experimental")

_UPSTREAM_RE = re.compile(
    r"^vmlinu[xz]-(?P<version>\d{1,3}\.\d{1,3}(?:\.\d{1,4})?)-(?P<config>\d{1,5})(?:-(?P<flavour>[a-z0-9][a-z0-9.-]{0,63}))?$"
)
_OTHER_RE = re.compile(
    r"^vmlinu[xz]-(?P<version>\d{1,3}\.\d{1,3}(?:\.\d{1,4})?)(?P<rest>[-+_.][A-Za-z0-9._+-]{1,64})?$"
)

_HINT = (
    "expected a guest kernel file such as /opt/kata/share/kata-containers/vmlinux-6.18.35-202; "
    "if the node reports a symlink (vmlinux.container), the node reporter must resolve it"
)


@dataclass(frozen=True)
class GuestKernel:
    """A guest kernel build: kernel version, Kata kernel-config number and flavour."""

    version: tuple[int, ...]
    config: int | None = None
    flavour: str | None = None

    @classmethod
    def parse(cls, text: str) -> GuestKernel:
        """Parse a kernel path or file name, or a bare build such as ``6.18.35-202``."""
        raw = text.strip() if isinstance(text, str) else ""
        if not raw:
            raise KernelParseError("empty guest kernel path", hint=_HINT)
        name = raw.rsplit("/", 1)[-1]
        if name[:1].isdigit():
            name = "vmlinux-" + name
        m = _UPSTREAM_RE.match(name)
        if m:
            return cls(_version_tuple(m["version"]), int(m["config"]), m["flavour"])
        m = _OTHER_RE.match(name)
        if m:
            rest = (m["rest"] or "").lstrip("-+_.")
            return cls(_version_tuple(m["version"]), None, rest or None)
        shown = raw if len(raw) <= 80 else raw[:77] + "..."
        raise KernelParseError(f"{shown!r} is not a guest kernel build", hint=_HINT)

    @property
    def kernel_version(self) -> str:
        """The Linux version, such as ``6.18.35``."""
        return ".".join(str(p) for p in self.version)

    @property
    def build(self) -> str:
        """The build without flavour: ``6.18.35-202``, or just the version for other schemes."""
        if self.config is None:
            return self.kernel_version
        return f"{self.kernel_version}-{self.config}"

    @property
    def is_upstream_scheme(self) -> bool:
        """True when the name follows upstream's ``<version>-<config>[-flavour]`` scheme."""
        return self.config is not None and (self.flavour is None or self.flavour in KNOWN_FLAVOURS)

    def matches_pin(self, pin: GuestKernel) -> bool:
        """True when this kernel is the release's pinned build (flavour aside)."""
        return self.version == pin.version and self.config == pin.config

    def __str__(self) -> str:
        return f"{self.build}-{self.flavour}" if self.flavour else self.build


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))
