"""From a Node's JSON, its kata-deploy pod and the release catalog to ``NodeFacts`` (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from clients.kube.annotations import INSTALLED_AT_ANNOTATION, read_installed_at
from collectors.inventory.resolve import Signals, resolve
from collectors.reporter import read_reporter
from store.arch import normalize_arch
from store.errors import ArchError, KernelParseError
from store.facts import NodeFacts
from store.kernels import KNOWN_FLAVOURS, GuestKernel

LABEL_RUNTIME = "katacontainers.io/kata-runtime"
ZONE_LABEL = "topology.kubernetes.io/zone"
REGION_LABEL = "topology.kubernetes.io/region"
# Conditions whose healthy status is "True"; every other condition (pressures, node-problem-detector's) is healthy when "False".
_TRUE_WHEN_HEALTHY = {"Ready"}
# A kernel file's flavour suffix -> the catalog's flavour (versions.yaml's name); the other Kata suffixes
# (debug, nvidia-gpu-confidential) have no pin in the catalog.
CATALOG_FLAVOURS = {"confidential": "confidential", "nvidia-gpu": "nvidia-gpu", "dragonball-experimental": "dragonball"}


@dataclass(frozen=True)
class NodeExtras:
    """Per-node facts that come from other objects than the Node."""

    deploy_version: str | None = None
    deploy_state: str | None = None
    caa_version: str | None = None
    peerpod_count: int | None = None
    deploy_started: datetime | None = None  # status.startTime of the node's Running kata-deploy pod
    kata_starts: tuple[datetime, ...] | None = None  # of its Running Kata pods; None when one has no start time
    kata_pods: int | None = None  # its Running Kata pods
    monitor_namespace: str | None = None  # of its kata-monitor pod


def install_time(annotations: Mapping[str, Any], deploy_started: datetime | None) -> datetime | None:
    """The node's last install: fleetctl's ``installed-at`` annotation, else its kata-deploy pod's start."""
    return read_installed_at(annotations) or deploy_started


def stale_count(kata_starts: Sequence[datetime] | None, installed: datetime | None) -> int | None:
    """How many Kata sandboxes started before ``installed`` (still on the old release); None when unknown."""
    if kata_starts is None or installed is None:
        return None
    return sum(1 for started in kata_starts if started < installed)


def cpu_millis(quantity: Any) -> int | None:
    """A CPU quantity ("32", "31500m", "0.5") in millicores."""
    if quantity is None:
        return None
    text = str(quantity).strip()
    try:
        if text.endswith("m"):
            return int(float(text[:-1]))
        return int(float(text) * 1000)
    except ValueError:
        return None


def _conditions(status: Mapping[str, Any]) -> tuple[bool | None, tuple[str, ...]]:
    ready: bool | None = None
    unhealthy = []
    for cond in status.get("conditions") or []:
        if not isinstance(cond, dict):
            continue
        kind, value = str(cond.get("type", "")), str(cond.get("status", ""))
        if kind == "Ready":
            ready = value == "True"
        healthy = "True" if kind in _TRUE_WHEN_HEALTHY else "False"
        if value != healthy:
            unhealthy.append(f"{kind}={value}")
    return ready, tuple(sorted(unhealthy))


@cache
def _bundled_flavour_pins() -> Mapping[str, Mapping[str, str]]:
    from collectors.releases.catalog import flavour_kernel_pins

    return flavour_kernel_pins()


def kernel_pin(
    kernel: GuestKernel, version: str | None, pins: Mapping[str, str], flavour_pins: Mapping[str, Mapping[str, str]]
) -> str | None:
    """The build ``kernel`` is judged against on a node of release ``version``; None when not known.

    A Kata flavour's kernel (``vmlinux-6.16.7-173-nvidia-gpu``) is judged against that flavour's pin
    (``flavour_pins``: release -> flavour -> build), any other against the release's default pin (``pins``).
    """
    if kernel.flavour not in KNOWN_FLAVOURS:
        return pins.get(version or "")
    flavour = CATALOG_FLAVOURS.get(kernel.flavour)
    return flavour_pins.get(version or "", {}).get(flavour) if flavour else None


def build_facts(
    node: Mapping[str, Any],
    extras: NodeExtras,
    pins: Mapping[str, str],
    flavour_pins: Mapping[str, Mapping[str, str]] | None = None,
) -> NodeFacts:
    """Everything fleetctl tracks about ``node``; ``pins`` maps release -> pinned (default flavour) guest
    kernel build, ``flavour_pins`` release -> flavour -> build (default: the bundled catalog's)."""
    meta, spec, status = node.get("metadata") or {}, node.get("spec") or {}, node.get("status") or {}
    labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
    info = status.get("nodeInfo") or {}
    problems: list[str] = []
    arch: str | None = None
    raw_arch = info.get("architecture") or labels.get("kubernetes.io/arch")
    if raw_arch:
        try:
            arch = str(normalize_arch(raw_arch))
        except ArchError:
            problems.append(f"unknown architecture {str(raw_arch)[:40]!r}")
            arch = str(raw_arch)[:40]
    annotations = meta.get("annotations") or {}
    reporter = read_reporter(annotations)
    problems += reporter.problems
    if annotations.get(INSTALLED_AT_ANNOTATION) is not None and read_installed_at(annotations) is None:
        problems.append(f"annotation {INSTALLED_AT_ANNOTATION} is not an RFC 3339 time")
    handlers = tuple(
        sorted(str(h.get("name")) for h in status.get("runtimeHandlers") or [] if isinstance(h, dict) and h.get("name"))
    )
    resolution = resolve(
        Signals(
            arch=arch,
            env_version=reporter.version,
            env_source=reporter.source,
            version_file=reporter.version_file,
            deploy_version=extras.deploy_version,
            deploy_state=extras.deploy_state,
            label=labels.get(LABEL_RUNTIME),
            handlers=handlers,
        )
    )
    guest_kernel, custom = _kernel(
        reporter.kernel_path,
        resolution.version,
        pins,
        _bundled_flavour_pins() if flavour_pins is None else flavour_pins,
        problems,
    )
    ready, conditions = _conditions(status)
    return NodeFacts(
        name=str(meta.get("name")),
        uid=meta.get("uid"),
        system_uuid=info.get("systemUUID"),
        arch=arch,
        zone=labels.get(ZONE_LABEL),
        region=labels.get(REGION_LABEL),
        cpu_capacity=cpu_millis((status.get("capacity") or {}).get("cpu")),
        cpu_allocatable=cpu_millis((status.get("allocatable") or {}).get("cpu")),
        ready=ready,
        unschedulable=bool(spec.get("unschedulable")),
        taints=tuple(
            sorted(f"{t.get('key')}:{t.get('effect')}" for t in spec.get("taints") or [] if isinstance(t, dict))
        ),
        conditions=conditions,
        host_kernel=info.get("kernelVersion"),
        os_image=info.get("osImage"),
        container_runtime=info.get("containerRuntimeVersion"),
        kubelet_version=info.get("kubeletVersion"),
        boot_id=info.get("bootID"),
        kata_label=labels.get(LABEL_RUNTIME),
        kata_deploy_version=extras.deploy_version,
        kata_version=resolution.version,
        kata_version_sort=resolution.sort_key,
        kata_commit=reporter.commit,
        guest_kernel=guest_kernel,
        custom_kernel=custom,
        hypervisor=reporter.hypervisor,
        hypervisor_version=reporter.hypervisor_version,
        machine_type=reporter.machine_type,
        config_path=reporter.config_path,
        runtime_handlers=handlers,
        caa_version=extras.caa_version,
        peerpod_count=extras.peerpod_count,
        stale_sandboxes=stale_count(extras.kata_starts, install_time(annotations, extras.deploy_started)),
        kata_pods=extras.kata_pods,
        kata_monitor_namespace=extras.monitor_namespace,
        reporter_source=reporter.source,
        drift=resolution.drift,
        parse_problems=tuple(problems),
        labels=labels,
    )


def _kernel(
    path: str | None,
    version: str | None,
    pins: Mapping[str, str],
    flavour_pins: Mapping[str, Mapping[str, str]],
    problems: list[str],
) -> tuple[str | None, bool | None]:
    if not path:
        return None, None
    try:
        kernel = GuestKernel.parse(path)
    except KernelParseError as exc:
        problems.append(f"guest kernel: {exc.message}")
        return path.rsplit("/", 1)[-1][:128], None
    pin = kernel_pin(kernel, version, pins, flavour_pins)
    if pin is None:
        return str(kernel), None
    return str(kernel), not kernel.matches_pin(GuestKernel.parse(pin))
