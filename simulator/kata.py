"""What Kata looks like on a node: releases, handlers per arch, and what the node reporter publishes.

The simulator keeps its own copy of these facts (from kata-facts.md) and never imports the
product's: it is the outside world, and must not share the product's mistakes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulator.fleet import NodeSpec

DEPLOY_IMAGE = "quay.io/kata-containers/kata-deploy"
CAA_IMAGE = "quay.io/confidential-containers/cloud-api-adaptor"

# The annotations the node reporter (`fleetctl report-node`) writes, documented in docs/simulator.md.
ANNOTATION_ENV = "reporter.fleetctl.io/kata-env"
ANNOTATION_VERSION_FILE = "reporter.fleetctl.io/version-file"
ANNOTATION_REPORTED_AT = "reporter.fleetctl.io/reported-at"
ANNOTATION_SOURCE = "reporter.fleetctl.io/source"
# A simulator-only node label: "runtime-rs" makes a 4.1+ node runtime-rs only (kata-static without the
# kata-go-static tarball): no Go shim, so no kata-runtime and none of the Go shims' handlers.
LABEL_SHIMS = "sim.fleetctl.io/shims"
RUNTIME_RS_ONLY = "runtime-rs"
GO_SHIM_HANDLERS = frozenset({"kata-qemu", "kata-clh", "kata-fc", "kata-qemu-se", "kata-remote"})
LABEL_RUNTIME = "katacontainers.io/kata-runtime"
LABEL_DEFAULT = "kata-deploy.katacontainers.io/default"
LABEL_PEER_PODS = "confidentialcontainers.org/peer-pods"
LABEL_SE = "feature.node.kubernetes.io/cpu-security.se.enabled"


@dataclass(frozen=True)
class Release:
    """One Kata release as the simulator installs it."""

    version: str
    date: str
    kernel: str  # "<kernel version>-<kata config number>"
    qemu: str
    clh: str
    fc: str

    @property
    def major_minor(self) -> tuple[int, int]:
        """(major, minor), for feature checks."""
        major, minor, _ = self.version.split(".")
        return int(major), int(minor)

    @property
    def commit(self) -> str:
        """A stable stand-in for the release's git commit."""
        return hashlib.sha1(f"kata-containers/{self.version}".encode()).hexdigest()


# Kernel pins and hypervisor versions agree with collectors/releases/catalog.json wherever it knows them
# (tests/simulator/test_releases.py); where it does not, a hypervisor version is the next known release's,
# a stand-in.
RELEASES: dict[str, Release] = {
    r.version: r
    for r in (
        Release("3.20.0", "2025-08-20", "6.12.42-162", "10.1.1", "v48.0", "v1.12.1"),
        Release("3.24.0", "2025-12-12", "6.12.47-173", "10.1.1", "v48.0", "v1.12.1"),
        Release("3.25.0", "2026-01-19", "6.18.5-176", "10.1.1", "v48.0", "v1.12.1"),
        Release("3.26.0", "2026-01-29", "6.18.5-177", "10.2.0", "v48.0", "v1.12.1"),
        Release("3.27.0", "2026-02-19", "6.18.12-181", "10.2.1", "v48.0", "v1.12.1"),
        Release("3.28.0", "2026-03-16", "6.18.15-186", "10.2.1", "v51.1", "v1.12.1"),
        Release("3.29.0", "2026-04-22", "6.18.15-189", "10.2.1", "v51.1", "v1.12.1"),
        Release("3.30.0", "2026-05-02", "6.18.15-192", "10.2.1", "v51.1", "v1.12.1"),
        Release("3.31.0", "2026-05-19", "6.18.28-194", "10.2.1", "v51.1", "v1.12.1"),
        Release("3.32.0", "2026-06-22", "6.18.35-197", "11.0.1", "v51.1", "v1.12.1"),
        Release("4.0.0", "2026-07-20", "6.18.35-200", "11.0.1", "v51.1", "v1.12.1"),
        Release("4.1.0", "2026-08-21", "6.18.35-202", "11.0.1", "v51.1", "v1.12.1"),
    )
}
NEWEST = max(RELEASES.values(), key=lambda r: r.major_minor).version

MACHINE_TYPES = {"amd64": "q35", "s390x": "s390-ccw-virtio", "ppc64le": "pseries", "arm64": "virt"}
QEMU_BINARIES = {
    "amd64": "qemu-system-x86_64",
    "s390x": "qemu-system-s390x",
    "ppc64le": "qemu-system-ppc64",
    "arm64": "qemu-system-aarch64",
}

# RuntimeClass name -> (pod overhead memory, cpu); the real overheads from kata-deploy's chart.
RUNTIME_CLASSES: dict[str, tuple[str, str]] = {
    "kata-qemu": ("320Mi", "250m"),
    "kata-qemu-runtime-rs": ("320Mi", "250m"),
    "kata-clh": ("130Mi", "250m"),
    "kata-fc": ("130Mi", "250m"),
    "kata-dragonball": ("130Mi", "250m"),
    "kata-qemu-se": ("1024Mi", "1"),
    "kata-remote": ("120Mi", "250m"),
}


def go_shim(release: Release, labels: dict[str, str] | None) -> bool:
    """Whether a node running ``release`` has the Go shim: always before 4.1.0; from 4.1.0 (where it is in
    ``kata-go-static``, not ``kata-static``) unless the node is labelled runtime-rs only."""
    return release.major_minor < (4, 1) or (labels or {}).get(LABEL_SHIMS) != RUNTIME_RS_ONLY


def handlers_for(
    version: str,
    arch: str,
    *,
    peer_pods: bool = False,
    secure_execution: bool = False,
    labels: dict[str, str] | None = None,
) -> list[str]:
    """The runtime handlers a kata-deploy install of ``version`` sets up on an ``arch`` node (with ``labels``)."""
    release = RELEASES[version]
    if not go_shim(release, labels):
        return ["kata-qemu-runtime-rs", *(["kata-dragonball"] if arch == "amd64" else [])]
    handlers = ["kata-qemu"]
    if arch != "ppc64le" or release.major_minor >= (4, 1):
        handlers.append("kata-qemu-runtime-rs")
    if arch == "amd64":
        handlers += ["kata-clh", "kata-fc", "kata-dragonball"]
    if arch == "s390x" and secure_execution:
        handlers.append("kata-qemu-se")
    if peer_pods and arch in ("amd64", "s390x", "ppc64le"):
        handlers.append("kata-remote")
    return handlers


def runtime_handlers_status(handlers: list[str]) -> list[dict[str, Any]]:
    """``node.status.runtimeHandlers`` (Kubernetes >= 1.30): the default, runc, then Kata's."""
    features = {"recursiveReadOnlyMounts": True, "userNamespaces": True}
    return [{"name": name, "features": dict(features)} for name in ["", "runc", *handlers]]


def kernel_path(release: Release, custom_kernel: str | None) -> str:
    """The guest kernel file Kata boots: the release's pin, or the team's own build."""
    if custom_kernel:
        return f"/opt/acme/kernels/vmlinux-{custom_kernel}"
    return f"/opt/kata/share/kata-containers/vmlinux-{release.kernel}"


def kata_env(release: Release, *, arch: str, custom_kernel: str | None, host: dict[str, Any]) -> dict[str, Any]:
    """The shape of ``kata-runtime env --json`` for a node running ``release``."""
    major, minor, patch = (int(x) for x in release.version.split("."))
    qemu = QEMU_BINARIES.get(arch, "qemu-system")
    return {
        "Kernel": {
            "Path": kernel_path(release, custom_kernel),
            "Parameters": "systemd.unit=kata-containers.target systemd.mask=systemd-networkd.service",
        },
        "Meta": {"Version": "1.0.27"},
        "Image": {"Path": "/opt/kata/share/kata-containers/kata-ubuntu-noble.image"},
        "Initrd": {"Path": ""},
        "Hypervisor": {
            "MachineType": MACHINE_TYPES.get(arch, ""),
            "Version": f"QEMU emulator version {release.qemu} (kata-static)\n"
            "Copyright (c) 2003-2025 Fabrice Bellard and the QEMU Project developers",
            "Path": f"/opt/kata/bin/{qemu}",
            "BlockDeviceDriver": "virtio-scsi" if arch != "s390x" else "virtio-blk-ccw",
            "EntropySource": "/dev/urandom",
            "SharedFS": "virtio-fs",
            "VirtioFSDaemon": "/opt/kata/libexec/virtiofsd",
            "Msize9p": 8192,
            "MemorySlots": 10,
            "Debug": False,
        },
        "Runtime": {
            "Path": "/opt/kata/bin/kata-runtime",
            "Experimental": [],
            "Version": {
                "OCI": "1.2.1",
                "Version": {
                    "Semver": release.version,
                    "Commit": release.commit,
                    "Major": major,
                    "Minor": minor,
                    "Patch": patch,
                },
            },
            "Config": {"Path": "/opt/kata/share/defaults/kata-containers/configuration-qemu.toml"},
            "Debug": False,
            "Trace": False,
            "DisableGuestSeccomp": True,
            "SandboxCgroupOnly": False,
        },
        "Host": {
            "AvailableGuestProtections": ["se"] if arch == "s390x" else None,
            "Kernel": host["kernel"],
            "Architecture": arch,
            "VMContainerCapable": True,
            "SupportVSocks": True,
            "Distro": {"Name": host["distro"], "Version": host["distro_version"]},
            "CPU": {"Vendor": host["cpu_vendor"], "Model": host["cpu_model"], "CPUs": host["cpus"]},
            "Memory": {
                "Total": host["memory_kib"],
                "Free": host["memory_kib"] // 3,
                "Available": host["memory_kib"] // 2,
            },
        },
        "Agent": {"Debug": False, "Trace": False},
    }


def reporter_annotations(
    release: Release,
    *,
    arch: str,
    custom_kernel: str | None,
    host: dict[str, Any],
    at: str,
    labels: dict[str, str] | None = None,
) -> dict[str, str]:
    """What the node reporter publishes about a node running ``release``: ``kata-runtime env``; on a
    runtime-rs-only node (no kata-runtime), ``kata-ctl env`` where kata-ctl is (kata-tools-static is
    amd64 only), else the shim's ``--version`` with the configured kernel, in the env's shape."""
    env = kata_env(release, arch=arch, custom_kernel=custom_kernel, host=host)
    source = "kata-runtime env"
    if not go_shim(release, labels):
        if arch == "amd64":
            source = "kata-ctl env"
            env["Runtime"]["Path"] = "/opt/kata/bin/kata-ctl"
        else:
            source = "containerd-shim-kata-v2 --version"
            env = {"Kernel": {"Path": env["Kernel"]["Path"]}, "Runtime": {"Version": {"Version": {
                "Semver": release.version, "Commit": release.commit}}}}  # fmt: skip
    return {
        ANNOTATION_ENV: json.dumps(env, separators=(",", ":")),
        ANNOTATION_VERSION_FILE: release.version,
        ANNOTATION_REPORTED_AT: at,
        ANNOTATION_SOURCE: source,
    }


def reported(release: Release, spec: NodeSpec, at: str) -> dict[str, str]:
    """The reporter annotations of ``spec``'s node once it runs ``release``."""
    return reporter_annotations(
        release, arch=spec.arch, custom_kernel=spec.custom_kernel, host=spec.host, at=at, labels=spec.labels
    )


def deploy_image(version: str) -> str:
    """The kata-deploy image for a release."""
    return f"{DEPLOY_IMAGE}:{version}"


def image_version(image: str) -> str:
    """The tag of an image reference (``latest`` when untagged)."""
    name = image.rsplit("/", 1)[-1]
    return name.split(":", 1)[1] if ":" in name else "latest"


def is_deploy_image(image: str) -> bool:
    """A kata-deploy image (any tag or digest)."""
    name = image.split("@", 1)[0]
    repo, _, tag = name.rpartition(":")
    return (repo if repo and "/" not in tag else name) == DEPLOY_IMAGE
