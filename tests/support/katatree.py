"""A fixture /opt/kata tree with a stand-in ``kata-runtime`` (or ``kata-ctl``) that prints an env, or
(``binary=None``) none of them: then optionally a stand-in shim that prints its ``--version``."""

from __future__ import annotations

import json
from pathlib import Path

ENV = {
    "Kernel": {
        "Path": "/opt/kata/share/kata-containers/vmlinux.container",
        "Parameters": "systemd.unit=kata-containers.target",
    },
    "Meta": {"Version": "1.0.27"},
    "Hypervisor": {
        "MachineType": "q35",
        "Version": "QEMU emulator version 11.0.1 (kata-static)",
        "Path": "/opt/kata/bin/qemu-system-x86_64",
    },
    "Runtime": {
        "Version": {
            "OCI": "1.2.1",
            "Version": {"Semver": "4.1.0", "Commit": "a1b2c3d4e5", "Major": 4, "Minor": 1, "Patch": 0},
        },
        "Config": {"Path": "/opt/kata/share/defaults/kata-containers/configuration-qemu.toml"},
    },
    "Host": {"Kernel": "6.8.0-85-generic", "Architecture": "amd64"},
    "Agent": {"Debug": False},
    "Netmon": {"Huge": "x" * 10},
}


GO_SHIM_VERSION = (
    'Kata Containers containerd shim (Golang): id: "io.containerd.kata.v2", version: 4.1.0, commit: a1b2c3d4e5'
)
RUST_SHIM_VERSION = (
    "Kata Containers containerd shim (Rust): id: io.containerd.kata.v2, version: 4.1.0, commit: f6e5d4c3b2"
)
GO_SHIM, RUST_SHIM = "bin/containerd-shim-kata-v2", "runtime-rs/bin/containerd-shim-kata-v2"


def kata_tree(
    root: Path,
    binary: str | None = "kata-runtime",
    env: dict[str, object] | None = None,
    *,
    shim: tuple[str, str] | None = None,
    config_kernel: str | None = None,
    version_file: str | None = "4.1.0",
) -> Path:
    """/opt/kata under ``root``: ``binary`` prints ``env``; ``shim`` is (path under /opt/kata, its
    ``--version`` line); ``config_kernel`` is runtime-rs's configuration.toml ``kernel``."""
    kata = root / "opt" / "kata"
    (kata / "bin").mkdir(parents=True)
    share = kata / "share" / "kata-containers"
    share.mkdir(parents=True)
    (share / "vmlinux-6.18.35-202").write_bytes(b"\x7fELF")
    (share / "vmlinux.container").symlink_to("vmlinux-6.18.35-202")
    if version_file is not None:
        (kata / "VERSION").write_text(f"{version_file}\n")
    if binary is not None:
        stand_in = kata / "bin" / binary
        stand_in.write_text(
            f"#!/bin/sh\n[ \"$1 $2\" = 'env --json' ] || exit 3\ncat <<'JSON'\n{json.dumps(env or ENV)}\nJSON\n"
        )
        stand_in.chmod(0o755)
    if shim is not None:
        path, line = shim
        stand_in = kata / path
        stand_in.parent.mkdir(parents=True, exist_ok=True)
        stand_in.write_text(f"#!/bin/sh\n[ \"$1\" = '--version' ] || exit 3\necho '{line}'\n")
        stand_in.chmod(0o755)
    if config_kernel is not None:
        config = kata / "share" / "defaults" / "kata-containers" / "runtime-rs" / "configuration.toml"
        config.parent.mkdir(parents=True)
        config.write_text(f'[hypervisor.qemu]\npath = "/opt/kata/bin/qemu-system-x86_64"\nkernel = "{config_kernel}"\n')
    return kata
