"""What ``fleetctl report-node`` does on a node: read Kata's own account of itself, publish it.

It tries, in order: ``kata-runtime env --json``; ``kata-ctl env --json`` where kata-ctl is
installed; the shim's ``--version`` (``containerd-shim-kata-v2``, the Go one in ``bin/`` or the
runtime-rs one in ``runtime-rs/bin/``); and ``/opt/kata/VERSION`` alone. From 4.1.0 the
``kata-static`` tarball holds only the runtime-rs shim, and the Go shim and ``kata-runtime`` are in
``kata-go-static``, so a runtime-rs-only node has no ``kata-runtime env``. Without an env, the guest
kernel is read from the configuration file's ``kernel`` (runtime-rs's first), else the default
``vmlinux.container``. What was found is published in the env's JSON shape (only the fields found),
and ``reporter.fleetctl.io/source`` names the source that answered. The guest kernel symlink is
resolved to the real file so the build is visible; only the sections collectors read are kept; the
annotation is capped at ``MAX_ANNOTATION_BYTES``; the node's annotations are merge-patched.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collectors.reporter import (
    ANNOTATION_ENV,
    ANNOTATION_REPORTED_AT,
    ANNOTATION_SOURCE,
    ANNOTATION_VERSION_FILE,
    MAX_ANNOTATION_BYTES,
    SOURCE_KATA_CTL,
    SOURCE_KATA_RUNTIME,
    SOURCE_SHIM,
    SOURCE_VERSION_FILE,
)
from store.errors import BadInputError, OperationTimeoutError

KEPT_SECTIONS = ("Kernel", "Meta", "Image", "Initrd", "Hypervisor", "Runtime", "Host", "Agent")
ENV_TIMEOUT_S = 30
SHIMS = ("bin/containerd-shim-kata-v2", "runtime-rs/bin/containerd-shim-kata-v2")  # Go (or 4.1+ runtime-rs), runtime-rs
CONFIGS = (
    "share/defaults/kata-containers/runtime-rs/configuration.toml",
    "share/defaults/kata-containers/configuration.toml",
)
DEFAULT_KERNEL = "share/kata-containers/vmlinux.container"
# "Kata Containers containerd shim (Golang): id: "io.containerd.kata.v2", version: 3.28.0, commit: 660e3bb..."
# "Kata Containers containerd shim (Rust): id: io.containerd.kata.v2, version: 3.29.0, commit: 8dccf4c..."
_SHIM_VERSION = re.compile(r"version:\s*v?(\d+\.\d+\.\d+[^\s,]*)(?:.*?commit:\s*([0-9a-fA-F]+))?")


@dataclass(frozen=True)
class Report:
    """The annotations to publish, and where they came from."""

    annotations: dict[str, str]
    source: str  # the command that answered


def _run_env(binary: Path) -> dict[str, Any] | None:
    if not binary.is_file() or not os.access(binary, os.X_OK):
        return None
    try:
        out = subprocess.run(
            [str(binary), "env", "--json"], capture_output=True, text=True, timeout=ENV_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise OperationTimeoutError(
            f"{binary} env --json did not answer in {ENV_TIMEOUT_S}s", where=str(binary)
        ) from None
    if out.returncode != 0:
        raise BadInputError(
            f"{binary} env --json failed: {out.stderr.strip()[:200]}",
            where=str(binary),
            hint="run it by hand on the node",
        )
    try:
        data = json.loads(out.stdout)
    except ValueError:
        raise BadInputError(f"{binary} env --json printed something that is not JSON", where=str(binary)) from None
    if not isinstance(data, dict):
        raise BadInputError(f"{binary} env --json printed JSON that is not an object", where=str(binary))
    return data


def _run_shim_version(binary: Path) -> tuple[str, str | None] | None:
    """(version, commit) from ``containerd-shim-kata-v2 --version``; None when there is no such shim."""
    if not binary.is_file() or not os.access(binary, os.X_OK):
        return None
    try:
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=ENV_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise OperationTimeoutError(
            f"{binary} --version did not answer in {ENV_TIMEOUT_S}s", where=str(binary)
        ) from None
    m = _SHIM_VERSION.search(out.stdout) if out.returncode == 0 else None
    if m is None:
        return None  # not a version line: the next source is tried
    return m[1][:64], m[2][:64] if m[2] else None


def configured_kernel(kata_dir: Path) -> str | None:
    """The guest kernel the configuration boots (``[hypervisor.*] kernel``), else the default symlink."""
    for name in CONFIGS:
        try:
            config = tomllib.loads((kata_dir / name).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        hypervisors = config.get("hypervisor")
        for section in hypervisors.values() if isinstance(hypervisors, dict) else ():
            if isinstance(section, dict) and isinstance(section.get("kernel"), str) and section["kernel"]:
                return resolve_kernel(section["kernel"], kata_dir)
    if (kata_dir / DEFAULT_KERNEL).exists():
        return resolve_kernel(f"/opt/kata/{DEFAULT_KERNEL}", kata_dir)
    return None


def resolve_kernel(path: str, kata_dir: Path) -> str:
    """Follow a kernel symlink under ``kata_dir`` (the host's /opt/kata as mounted here)."""
    if not path.startswith("/opt/kata/"):
        return path
    local = kata_dir / path.removeprefix("/opt/kata/")
    try:
        resolved = local.resolve(strict=True)
        relative = resolved.relative_to(kata_dir.resolve())
    except (OSError, ValueError):
        return path
    return f"/opt/kata/{relative.as_posix()}"


def _read_env(kata_dir: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The node's env and the source that gave it: kata-runtime, kata-ctl, then the shim's version."""
    for candidate, source in (
        (kata_dir / "bin" / "kata-runtime", SOURCE_KATA_RUNTIME),
        (kata_dir / "bin" / "kata-ctl", SOURCE_KATA_CTL),
    ):
        env = _run_env(candidate)
        if env is not None:
            return env, source
    for shim in SHIMS:
        found = _run_shim_version(kata_dir / shim)
        if found is not None:
            version, commit = found
            semver = {"Semver": version, **({"Commit": commit} if commit else {})}
            return {"Runtime": {"Version": {"Version": semver}}}, SOURCE_SHIM
    return None, None


def build_report(kata_dir: Path, *, now: datetime | None = None) -> Report:
    """Read the node's Kata installation under ``kata_dir``."""
    env, source = _read_env(kata_dir)
    version_file = kata_dir / "VERSION"
    version = (
        version_file.read_text(encoding="utf-8", errors="replace").strip()[:64] if version_file.is_file() else None
    )
    if env is None and version is None:
        raise BadInputError(
            "no kata-runtime, no kata-ctl, no containerd-shim-kata-v2 and no VERSION file here",
            where=str(kata_dir),
            hint="mount the host's /opt/kata and pass --kata-dir (the node reporter DaemonSet in deploy/ does)",
        )
    if source is None:
        source, env = SOURCE_VERSION_FILE, {}
    if source not in (SOURCE_KATA_RUNTIME, SOURCE_KATA_CTL) and env is not None and "Kernel" not in env:
        kernel = configured_kernel(kata_dir)
        if kernel:
            env["Kernel"] = {"Path": kernel}
    annotations = {
        ANNOTATION_REPORTED_AT: (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        ANNOTATION_SOURCE: source,
    }
    if version:
        annotations[ANNOTATION_VERSION_FILE] = version
    if env:
        kept = {k: env[k] for k in KEPT_SECTIONS if k in env}
        kernel = kept.get("Kernel")
        if isinstance(kernel, dict) and isinstance(kernel.get("Path"), str):
            kept["Kernel"] = {**kernel, "Path": resolve_kernel(kernel["Path"], kata_dir)}
        text = json.dumps(kept, separators=(",", ":"), sort_keys=True)
        if len(text.encode()) > MAX_ANNOTATION_BYTES:
            raise BadInputError(
                f"{source} is {len(text.encode())} bytes, over the {MAX_ANNOTATION_BYTES}-byte annotation cap",
                where=source,
            )
        annotations[ANNOTATION_ENV] = text
    return Report(annotations, source)
