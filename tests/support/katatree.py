"""A fixture /opt/kata tree with a stand-in ``kata-runtime`` (or ``kata-ctl``) that prints an env."""

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


def kata_tree(root: Path, binary: str = "kata-runtime", env: dict[str, object] | None = None) -> Path:
    kata = root / "opt" / "kata"
    (kata / "bin").mkdir(parents=True)
    share = kata / "share" / "kata-containers"
    share.mkdir(parents=True)
    (share / "vmlinux-6.18.35-202").write_bytes(b"\x7fELF")
    (share / "vmlinux.container").symlink_to("vmlinux-6.18.35-202")
    (kata / "VERSION").write_text("4.1.0\n")
    stand_in = kata / "bin" / binary
    stand_in.write_text(
        f"#!/bin/sh\n[ \"$1 $2\" = 'env --json' ] || exit 3\ncat <<'JSON'\n{json.dumps(env or ENV)}\nJSON\n"
    )
    stand_in.chmod(0o755)
    return kata
