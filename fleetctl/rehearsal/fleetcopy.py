"""The store's view of one cluster's nodes, as a simulator fleet (names, arches, zones, releases,
kernels, labels, readiness and cordons). Releases the simulator does not model are rehearsed at
the nearest one it does, and said so."""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel

from simulator import (
    HOSTS,
    LABEL_DEFAULT,
    LABEL_PEER_PODS,
    LABEL_RUNTIME,
    LABEL_SE,
    NEWEST,
    RELEASES,
    FleetSpec,
    NodeSpec,
)
from store.engine import Store
from store.models import Cluster, Node, NodeState

# Labels the simulator sets itself from the node's facts (a copy must not contradict them).
_OWN_LABELS = (LABEL_RUNTIME, LABEL_DEFAULT, LABEL_PEER_PODS, LABEL_SE)
_N, _S, _C = (SQLModel.metadata.tables[m.__tablename__].c for m in (Node, NodeState, Cluster))


@dataclass
class CopiedFleet:
    """A cluster's fleet for the simulator, and what could not be copied exactly."""

    cluster: str
    fleet: FleetSpec
    approximated: dict[str, str] = field(default_factory=dict)  # node -> "release X rehearsed as Y"


def copy_fleet(store: Store, cluster: str) -> CopiedFleet:
    """The cluster's present nodes as the store last saw them."""
    columns = (
        _N.name, _S.arch, _S.zone, _S.cpu_capacity, _S.kata_version, _S.guest_kernel, _S.custom_kernel,
        _S.host_kernel, _S.os_image, _S.ready, _S.unschedulable, _S.labels, _S.runtime_handlers, _S.boot_id,
        _S.system_uuid,
    )  # fmt: skip
    statement = (
        sa.select(*columns)
        .select_from(_N.id.table.join(_S.node_id.table, _S.node_id == _N.id).join(_C.id.table, _C.id == _N.cluster_id))
        .where(_C.name == cluster, _N.gone_at.is_(None))
        .order_by(_N.name)
    )
    with store.read_connection() as conn:
        rows = conn.execute(statement).all()
    approximated: dict[str, str] = {}
    specs = []
    for index, row in enumerate(rows):
        release = nearest_release(row.kata_version)
        if release != row.kata_version:
            approximated[row.name] = f"release {row.kata_version or 'unknown'} rehearsed as {release}"
        specs.append(_node_spec(index, row, release))
    template = Counter(s.release for s in specs).most_common(1)[0][0] if specs else NEWEST
    fleet = FleetSpec(profile="copy", seed=0, nodes=specs, template_version=template)
    return CopiedFleet(cluster, fleet, approximated)


def nearest_release(version: str | None) -> str:
    """``version`` when the simulator models it; else the newest modelled release not newer than it."""
    if version in RELEASES:
        return version
    known = sorted(RELEASES, key=_key)
    if version is None:
        return known[-1]
    older = [v for v in known if _key(v) <= _key(version)]
    return older[-1] if older else known[0]


def _key(version: str) -> tuple[int, ...]:
    parts = []
    for part in version.lstrip("v").split("-")[0].split("."):
        parts.append(int(part) if part.isdigit() else 0)
    return tuple(parts)


def _node_spec(index: int, row: Any, release: str) -> NodeSpec:
    m = row._mapping
    name, arch = str(m["name"]), str(m["arch"] or "amd64")
    labels = {k: v for k, v in dict(m["labels"] or {}).items() if k not in _OWN_LABELS}
    handlers = set(m["runtime_handlers"] or ())
    cpus = max(1, int(m["cpu_capacity"] or 16_000) // 1000)
    base = HOSTS.get(arch, HOSTS["amd64"])
    digest = hashlib.sha256(name.encode()).hexdigest()
    return NodeSpec(
        name=name,
        arch=arch,
        zone=str(m["zone"] or ""),
        cpus=cpus,
        memory_gib=cpus * 4,
        release=release,
        custom_kernel=str(m["guest_kernel"]) if m["custom_kernel"] and m["guest_kernel"] else None,
        peer_pods="kata-remote" in handlers or labels.get(LABEL_PEER_PODS) == "true",
        secure_execution="kata-qemu-se" in handlers,
        kata_monitor=True,
        ip=f"10.{20 + index // 62500}.{(index // 250) % 250}.{index % 250 + 1}",
        pod_cidr=f"10.{128 + index // 256}.{index % 256}.0/24",
        machine_id=digest[:32],
        system_uuid=str(m["system_uuid"] or uuid.UUID(digest[:32])),
        boot_id=str(m["boot_id"] or uuid.UUID(digest[32:64])),
        instance_type=labels.get("node.kubernetes.io/instance-type", ""),
        host={
            "os_image": m["os_image"] or base[0],
            "distro": base[1],
            "distro_version": base[2],
            "kernel": m["host_kernel"] or base[3],
            "cpu_vendor": base[4],
            "cpu_model": base[5],
            "cpus": cpus,
            "memory_kib": cpus * 4 * 1024 * 1024,
        },
        ready=m["ready"] is not False,
        unschedulable=bool(m["unschedulable"]),
        labels=labels,
    )
