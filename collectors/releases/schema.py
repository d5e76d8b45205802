"""The bundled release catalog (``catalog.json``): its shape, read and checked.

One entry per Kata release, oldest first::

    {"version": "3.24.0", "date": "2025-12-12", "date_basis": "tag",
     "guest_kernel": "6.12.47-173", "kata_config_version": 173,
     "kernels": {"default": "6.12.47", "confidential": null, "nvidia-gpu": "6.16.7", "dragonball": null},
     "hypervisors": {"qemu": "10.1.1", "cloud-hypervisor": "v48.0", "firecracker": "v1.12.1"},
     "arches": ["amd64", ...], "assets": [{"name": ..., "browser_download_url": ..., "arch": ..., "kind": ...}],
     "sources": ["kata-facts", ...]}

``guest_kernel`` is the default flavour's pinned build (what :func:`collectors.releases.catalog.kernel_pins`
returns). ``null`` means "not known", never "none". Entries of the first catalog format (no
``kernels``, ``kata_config_version``, ``date_basis`` or ``sources``) still load.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import Any, Final

from store.errors import BadInputError, VersionParseError
from store.versions import KataVersion

FLAVOURS: Final = ("default", "confidential", "nvidia-gpu", "dragonball")
"""Guest kernel flavours, as ``versions.yaml`` names them (``assets.kernel``, its ``confidential`` and
``nvidia`` entries, ``assets.kernel-dragonball-experimental``)."""
HYPERVISORS: Final = ("qemu", "cloud-hypervisor", "firecracker", "dragonball")
DATE_BASES: Final = ("tag", "release-pr")
"""``tag``: the tag commit's date. ``release-pr``: the last review of the release's version-bump pull
request; the tag follows within about a day."""
ARCHES: Final = ("amd64", "arm64", "s390x", "ppc64le")


class CatalogError(BadInputError):
    """The bundled catalog does not have the documented shape."""


@dataclass(frozen=True)
class CatalogRelease:
    """One release as the bundled catalog knows it."""

    version: str
    date: date | None
    date_basis: str | None
    guest_kernel: str | None  # "<kernel version>-<kata_config_version>", the default flavour's pin
    kata_config_version: int | None
    kernels: Mapping[str, str | None]  # flavour -> kernel version ("6.16.7"); None: not known
    hypervisors: Mapping[str, str]  # only the known ones
    arches: tuple[str, ...]
    assets: tuple[dict[str, Any], ...]
    sources: tuple[str, ...]

    @property
    def kata_version(self) -> KataVersion:
        """The version, parsed (for ordering)."""
        return KataVersion.parse(self.version)

    def kernel_build(self, flavour: str = "default") -> str | None:
        """The flavour's kernel build (``6.16.7-173``), when both its version and the config number are known.

        The file Kata boots is ``vmlinux-<build>`` (default) or ``vmlinux-<build>-<flavour>``.
        """
        if flavour not in FLAVOURS:
            raise ValueError(f"unknown guest kernel flavour {flavour!r}; one of {', '.join(FLAVOURS)}")
        version = self.kernels.get(flavour)
        if version is None or self.kata_config_version is None:
            return None
        return f"{version}-{self.kata_config_version}"

    def asset_names(self, kind: str | None = None) -> list[str]:
        """The asset file names, optionally only those of one kind (``kata-static``, ``kata-go-static``, ...)."""
        return [str(a["name"]) for a in self.assets if kind is None or a.get("kind") == kind]


@dataclass(frozen=True)
class Catalog:
    """The whole bundled catalog: the releases (oldest first) and what each source id means."""

    releases: tuple[CatalogRelease, ...]
    sources: Mapping[str, str]

    def get(self, version: str) -> CatalogRelease | None:
        """The release ``version``, or None."""
        return next((r for r in self.releases if r.version == version), None)

    @property
    def newest(self) -> CatalogRelease:
        """The newest release."""
        return self.releases[-1]


def load_catalog(raw: str | bytes | None = None) -> Catalog:
    """Read and check the bundled catalog (or ``raw``, a catalog document)."""
    if raw is None:
        raw = resources.files("collectors.releases").joinpath("catalog.json").read_text(encoding="utf-8")
    try:
        data: Any = json.loads(raw)
    except ValueError as exc:
        raise CatalogError(f"the release catalog is not valid JSON: {exc}", where="catalog.json") from None
    if not isinstance(data, dict) or not isinstance(data.get("releases"), list):
        raise CatalogError("the release catalog needs a 'releases' list", where="catalog.json")
    sources = data.get("sources") or {}
    if not isinstance(sources, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in sources.items()):
        raise CatalogError("'sources' must map source ids to descriptions", where="catalog.json: sources")
    releases = tuple(_release(item, f"catalog.json: releases[{i}]") for i, item in enumerate(data["releases"]))
    keys = [r.kata_version.sort_key() for r in releases]
    if len(set(keys)) != len(keys):
        raise CatalogError("a release is listed twice", where="catalog.json: releases")
    if keys != sorted(keys):
        raise CatalogError("releases must be ordered oldest first", where="catalog.json: releases")
    if not releases:
        raise CatalogError("the release catalog is empty", where="catalog.json: releases")
    return Catalog(releases, dict(sources))


def _release(item: Any, where: str) -> CatalogRelease:
    if not isinstance(item, dict):
        raise CatalogError("a release must be a JSON object", where=where)
    version = _text(item.get("version"), f"{where}.version", required=True)
    assert version is not None
    try:
        parsed = KataVersion.parse(version)
    except VersionParseError as exc:
        raise CatalogError(exc.message, where=f"{where}.version") from None
    if not parsed.is_release:
        raise CatalogError(f"{version!r} is not a plain release version", where=f"{where}.version")
    when = _text(item.get("date"), f"{where}.date")
    try:
        day = date.fromisoformat(when) if when else None
    except ValueError:
        raise CatalogError(f"date {when!r} is not YYYY-MM-DD", where=f"{where}.date") from None
    basis = _text(item.get("date_basis"), f"{where}.date_basis")
    if basis is not None and basis not in DATE_BASES:
        raise CatalogError(f"date_basis {basis!r} is not one of {', '.join(DATE_BASES)}", where=f"{where}.date_basis")
    pin = _text(item.get("guest_kernel"), f"{where}.guest_kernel")
    config = item.get("kata_config_version")
    if config is not None and (not isinstance(config, int) or isinstance(config, bool) or config < 0):
        raise CatalogError("kata_config_version must be a whole number or null", where=f"{where}.kata_config_version")
    kernels = _kernels(item.get("kernels"), f"{where}.kernels")
    if pin is not None:  # the pin is "<default kernel>-<config>"; fill what an older entry leaves out
        kernel, _, number = pin.rpartition("-")
        if not kernel or not number.isdigit():
            raise CatalogError(f"guest_kernel {pin!r} is not <kernel>-<config>", where=f"{where}.guest_kernel")
        if config is None:
            config = int(number)
        if kernels.get("default") is None:
            kernels["default"] = kernel
        if (kernels["default"], config) != (kernel, int(number)):
            raise CatalogError(
                f"guest_kernel {pin!r} disagrees with kernels.default and kata_config_version", where=where
            )
    hypervisors = item.get("hypervisors") or {}
    if not isinstance(hypervisors, dict) or not all(isinstance(v, str) for v in hypervisors.values()):
        raise CatalogError("hypervisors must map names to version strings", where=f"{where}.hypervisors")
    arches = item.get("arches") or []
    if not isinstance(arches, list) or any(a not in ARCHES for a in arches):
        raise CatalogError(f"arches must be a list of {', '.join(ARCHES)}", where=f"{where}.arches")
    assets = item.get("assets") or []
    if not isinstance(assets, list) or not all(isinstance(a, dict) and isinstance(a.get("name"), str) for a in assets):
        raise CatalogError("assets must be a list of objects with a name", where=f"{where}.assets")
    sources = item.get("sources") or []
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise CatalogError("sources must be a list of source ids", where=f"{where}.sources")
    return CatalogRelease(
        version=version,
        date=day,
        date_basis=basis,
        guest_kernel=pin,
        kata_config_version=config,
        kernels=kernels,
        hypervisors={str(k): v for k, v in hypervisors.items()},
        arches=tuple(arches),
        assets=tuple(dict(a) for a in assets),
        sources=tuple(sources),
    )


def _kernels(value: Any, where: str) -> dict[str, str | None]:
    out: dict[str, str | None] = dict.fromkeys(FLAVOURS)
    if value is None:
        return out
    if not isinstance(value, dict):
        raise CatalogError("kernels must map flavours to kernel versions", where=where)
    for flavour, version in value.items():
        if flavour not in FLAVOURS:
            raise CatalogError(f"unknown guest kernel flavour {flavour!r}", where=where)
        out[flavour] = _text(version, f"{where}.{flavour}")
    return out


def _text(value: Any, where: str, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise CatalogError("must be a non-empty string" + ("" if required else " or null"), where=where)
    return value
