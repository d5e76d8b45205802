"""Node facts: what a collector learned about one node, and how two snapshots differ.

Facts are compared as text (``fact_items``), so a change row records exactly what a person
would see change. Collections of values (handlers, taints, drift reasons, labels) render in
a stable order, so an unchanged node always renders the same and writes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields


@dataclass(frozen=True)
class NodeFacts:
    """Everything fleetctl tracks about one node at one moment. Unknown facts are ``None``."""

    name: str
    uid: str | None = None
    system_uuid: str | None = None
    arch: str | None = None
    zone: str | None = None
    region: str | None = None
    cpu_capacity: int | None = None  # millicores
    cpu_allocatable: int | None = None  # millicores
    ready: bool | None = None
    unschedulable: bool = False
    taints: tuple[str, ...] = ()
    conditions: tuple[str, ...] = ()  # "Type=Status" for every condition that is not the healthy value
    host_kernel: str | None = None
    os_image: str | None = None
    container_runtime: str | None = None
    kubelet_version: str | None = None
    boot_id: str | None = None
    kata_label: str | None = None  # katacontainers.io/kata-runtime
    kata_deploy_version: str | None = None  # image tag of the node's kata-deploy pod
    kata_version: str | None = None  # the resolved version
    kata_version_sort: str | None = None  # KataVersion.sort_key() of kata_version
    kata_commit: str | None = None
    guest_kernel: str | None = None
    custom_kernel: bool | None = None
    hypervisor: str | None = None
    hypervisor_version: str | None = None
    machine_type: str | None = None
    config_path: str | None = None
    runtime_handlers: tuple[str, ...] = ()
    caa_version: str | None = None
    peerpod_count: int | None = None
    stale_sandboxes: int | None = None  # Running Kata pods started before the node's last install
    kata_pods: int | None = None  # Running Kata pods (a kata* RuntimeClass)
    kata_monitor_namespace: str | None = None  # where the node's kata-monitor pod runs; None: no pod found
    reporter_source: str | None = None  # what the node reporter read its version from (kata-runtime env, ...)
    drift: tuple[str, ...] = ()
    parse_problems: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)

    def fact_items(self) -> dict[str, str | None]:
        """Every fact but the name as text, for diffing and change rows."""
        return {f.name: render_fact(getattr(self, f.name)) for f in fields(self) if f.name != "name"}

    def digest(self) -> str:
        """A short hash of every fact: equal digests mean nothing changed."""
        blob = json.dumps(self.fact_items(), sort_keys=True, separators=(",", ":"))
        return hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()


FACT_NAMES: tuple[str, ...] = tuple(f.name for f in fields(NodeFacts) if f.name != "name")
VOLATILE_FACTS = frozenset({"peerpod_count", "stale_sandboxes", "kata_pods"})
"""Facts kept current in node_state but never written as change rows: they move with every build."""


def render_fact(value: object) -> str | None:
    """Render one fact value as stable text; ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return ",".join(sorted(str(v) for v in value))
    if isinstance(value, Mapping):
        return json.dumps(dict(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return str(value)


@dataclass(frozen=True)
class FactChange:
    """One fact that changed between two snapshots of a node."""

    fact: str
    old: str | None
    new: str | None


def diff_facts(old: Mapping[str, str | None], new: Mapping[str, str | None]) -> list[FactChange]:
    """The facts whose text differs, in a stable order; volatile facts are left out."""
    return [
        FactChange(name, old.get(name), new.get(name))
        for name in sorted(old.keys() | new.keys())
        if old.get(name) != new.get(name) and name not in VOLATILE_FACTS
    ]
