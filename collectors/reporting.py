"""What ``fleetctl report-node`` does on a node: read Kata's own account of itself, publish it.

It runs ``kata-runtime env --json`` (or ``kata-ctl env --json`` for runtime-rs installs), reads
``/opt/kata/VERSION``, resolves the guest kernel symlink (``vmlinux.container``) to the real
file so the build is visible, keeps only the sections collectors read, and merge-patches the
node's annotations. The annotation is capped at ``MAX_ANNOTATION_BYTES``.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from collectors.reporter import ANNOTATION_ENV, ANNOTATION_REPORTED_AT, ANNOTATION_VERSION_FILE, MAX_ANNOTATION_BYTES
from store.errors import BadInputError, OperationTimeoutError

KEPT_SECTIONS = ("Kernel", "Meta", "Image", "Initrd", "Hypervisor", "Runtime", "Host", "Agent")
ENV_TIMEOUT_S = 30


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


def build_report(kata_dir: Path, *, now: datetime | None = None) -> Report:
    """Read the node's Kata installation under ``kata_dir``."""
    env, source = None, ""
    for candidate in (kata_dir / "bin" / "kata-runtime", kata_dir / "bin" / "kata-ctl"):
        env = _run_env(candidate)
        if env is not None:
            source = f"{candidate.name} env --json"
            break
    version_file = kata_dir / "VERSION"
    version = (
        version_file.read_text(encoding="utf-8", errors="replace").strip()[:64] if version_file.is_file() else None
    )
    if env is None and version is None:
        raise BadInputError(
            "no kata-runtime, no kata-ctl and no VERSION file here",
            where=str(kata_dir),
            hint="mount the host's /opt/kata and pass --kata-dir (the node reporter DaemonSet in deploy/ does)",
        )
    annotations = {ANNOTATION_REPORTED_AT: (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if version:
        annotations[ANNOTATION_VERSION_FILE] = version
    if env is not None:
        kept = {k: env[k] for k in KEPT_SECTIONS if k in env}
        kernel = kept.get("Kernel")
        if isinstance(kernel, dict) and isinstance(kernel.get("Path"), str):
            kept["Kernel"] = {**kernel, "Path": resolve_kernel(kernel["Path"], kata_dir)}
        text = json.dumps(kept, separators=(",", ":"), sort_keys=True)
        if len(text.encode()) > MAX_ANNOTATION_BYTES:
            raise BadInputError(
                f"kata-runtime env is {len(text.encode())} bytes, over the {MAX_ANNOTATION_BYTES}-byte annotation cap",
                where=source,
            )
        annotations[ANNOTATION_ENV] = text
    return Report(annotations, source or "VERSION file only")
