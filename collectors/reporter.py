"""The node reporter's protocol: which annotations it writes, and reading them back defensively.

``fleetctl report-node`` runs on every node (a DaemonSet with /opt/kata mounted read-only). It
publishes ``kata-runtime env --json`` (or, where there is none, what ``kata-ctl env --json``, the
shim's ``--version`` or the configured kernel say, in the same JSON shape) and ``/opt/kata/VERSION``
as node annotations, which are the only source of the guest kernel and hypervisor build, and
names the source it used (``reporter.fleetctl.io/source``). From 4.1.0 a runtime-rs-only node has
no ``kata-runtime``: it moved, with the Go shim, to the ``kata-go-static`` tarball. Anything can end up in an annotation,
so reading one never raises: a bad value becomes a parse problem recorded for that node.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

ANNOTATION_ENV = "reporter.fleetctl.io/kata-env"
ANNOTATION_VERSION_FILE = "reporter.fleetctl.io/version-file"
ANNOTATION_REPORTED_AT = "reporter.fleetctl.io/reported-at"
ANNOTATION_SOURCE = "reporter.fleetctl.io/source"
SOURCE_KATA_RUNTIME = "kata-runtime env"
SOURCE_KATA_CTL = "kata-ctl env"
SOURCE_SHIM = "containerd-shim-kata-v2 --version"
SOURCE_VERSION_FILE = "/opt/kata/VERSION"
SOURCES = (SOURCE_KATA_RUNTIME, SOURCE_KATA_CTL, SOURCE_SHIM, SOURCE_VERSION_FILE)
"""What the reporter tries, in this order; the annotation names the one that answered."""
MAX_ANNOTATION_BYTES = 64 * 1024
MAX_FIELD_CHARS = 512


@dataclass(frozen=True)
class ReporterData:
    """What the reporter said about a node; ``problems`` lists what could not be read."""

    version: str | None = None
    commit: str | None = None
    version_file: str | None = None
    kernel_path: str | None = None
    hypervisor: str | None = None
    hypervisor_version: str | None = None
    machine_type: str | None = None
    config_path: str | None = None
    reported_at: str | None = None
    source: str | None = None  # one of SOURCES; None: a reporter that does not say (kata-runtime env)
    problems: tuple[str, ...] = field(default=())

    @property
    def present(self) -> bool:
        """True when the reporter wrote anything usable."""
        return any((self.version, self.version_file, self.kernel_path))


def read_reporter(annotations: dict[str, Any]) -> ReporterData:
    """Read the reporter's annotations from a node's ``metadata.annotations``; never raises."""
    problems: list[str] = []
    env_raw = annotations.get(ANNOTATION_ENV)
    env: dict[str, Any] = {}
    if env_raw is not None:
        env = _parse_env(env_raw, problems)
    version_file = _clean(annotations.get(ANNOTATION_VERSION_FILE), "version-file", problems)
    reported_at = _clean(annotations.get(ANNOTATION_REPORTED_AT), "reported-at", problems)
    source = _clean(annotations.get(ANNOTATION_SOURCE), "source", problems)
    if source is not None and source not in SOURCES:
        problems.append(f"{ANNOTATION_SOURCE} is {source[:40]!r}, not one of {', '.join(SOURCES)}")
        source = None
    runtime = _section(env, "Runtime", problems)
    semver = _section(_section(runtime, "Version", problems, "Runtime."), "Version", problems, "Runtime.Version.")
    hypervisor = _section(env, "Hypervisor", problems)
    hv_path = _clean(hypervisor.get("Path"), "Hypervisor.Path", problems)
    return ReporterData(
        version=_clean(semver.get("Semver"), "Runtime.Version.Version.Semver", problems),
        commit=_clean(semver.get("Commit"), "Runtime.Version.Version.Commit", problems),
        version_file=version_file.strip() if version_file else None,
        kernel_path=_clean(_section(env, "Kernel", problems).get("Path"), "Kernel.Path", problems),
        hypervisor=hypervisor_name(hv_path) if hv_path else None,
        hypervisor_version=hypervisor_version(_clean(hypervisor.get("Version"), "Hypervisor.Version", problems)),
        machine_type=_clean(hypervisor.get("MachineType"), "Hypervisor.MachineType", problems),
        config_path=_clean(
            _section(runtime, "Config", problems, "Runtime.").get("Path"), "Runtime.Config.Path", problems
        ),
        reported_at=reported_at,
        source=source,
        problems=tuple(problems),
    )


def _parse_env(raw: Any, problems: list[str]) -> dict[str, Any]:
    if not isinstance(raw, str):
        problems.append(f"{ANNOTATION_ENV} is not a string")
        return {}
    size = len(raw.encode("utf-8", "surrogatepass"))
    if size > MAX_ANNOTATION_BYTES:
        problems.append(f"{ANNOTATION_ENV} is {size} bytes, over the {MAX_ANNOTATION_BYTES}-byte cap; ignored")
        return {}
    if not _utf8(raw):
        problems.append(f"{ANNOTATION_ENV} is not valid UTF-8; ignored")
        return {}
    try:
        data = json.loads(raw)
    except RecursionError:
        problems.append(f"{ANNOTATION_ENV} is nested too deeply; ignored")
        return {}
    except ValueError as exc:
        problems.append(f"{ANNOTATION_ENV} is not JSON ({str(exc)[:80]}); ignored")
        return {}
    if not isinstance(data, dict):
        problems.append(f"{ANNOTATION_ENV} is JSON but not an object; ignored")
        return {}
    return data


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _section(parent: dict[str, Any], key: str, problems: list[str], prefix: str = "") -> dict[str, Any]:
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(f"reporter field {prefix}{key} is not an object")
        return {}
    return value


def _clean(value: Any, name: str, problems: list[str]) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        problems.append(f"reporter field {name} is not a string")
        return None
    if not _utf8(value):
        problems.append(f"reporter field {name} is not valid UTF-8")
        return None
    if len(value) > MAX_FIELD_CHARS:
        problems.append(f"reporter field {name} is {len(value)} characters, cut to {MAX_FIELD_CHARS}")
        value = value[:MAX_FIELD_CHARS]
    text: str = value
    if text.isprintable():  # nearly always: no character to drop
        return text
    return "".join(ch for ch in text if ch.isprintable() or ch in "\n\t")


_HV_NAMES = (
    ("qemu", "qemu"),
    ("cloud-hypervisor", "cloud-hypervisor"),
    ("firecracker", "firecracker"),
    ("dragonball", "dragonball"),
)


def hypervisor_name(path: str) -> str:
    """``/opt/kata/bin/qemu-system-x86_64`` -> ``qemu``; other hypervisors by their binary."""
    base = path.rsplit("/", 1)[-1]
    for needle, name in _HV_NAMES:
        if needle in base:
            return name
    return base[:64]


def hypervisor_version(text: str | None) -> str | None:
    """``QEMU emulator version 11.0.1 (kata-static)`` -> ``11.0.1``; ``cloud-hypervisor v51.1`` -> ``v51.1``."""
    if not text:
        return None
    first = text.splitlines()[0]
    m = re.search(r"version\s+(v?\d+(?:\.\d+){1,3})", first, re.IGNORECASE) or re.search(
        r"\b(v?\d+\.\d+(?:\.\d+)?)\b", first
    )
    return m[1] if m else first[:64]


def reporting_binary(source: str | None) -> str:
    """The program whose version a drift reason quotes: ``kata-runtime`` unless the reporter said otherwise."""
    if source == SOURCE_KATA_CTL:
        return "kata-ctl"
    if source == SOURCE_SHIM:
        return "containerd-shim-kata-v2"
    return "kata-runtime"


def has_go_runtime(source: str | None) -> bool:
    """Whether the node has ``kata-runtime`` (and so, from 4.1.0, the Go shim of ``kata-go-static``)."""
    return source in (None, SOURCE_KATA_RUNTIME)
