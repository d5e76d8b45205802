"""What the fleet view shows, computed from ``read_nodes``' ``NodeRow``s: pure functions, no I/O.

Rows are keyed by ``cluster/name``; a refresh is turned into a ``RowDiff`` so the table only
adds, removes and updates what changed (never a clear-and-refill of 10,000 rows).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from store.versions import KataVersion

if TYPE_CHECKING:
    from store.query.reading import NodeRow

NONE = "<none>"
COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "NAME"),
    ("cluster", "CLUSTER"),
    ("arch", "ARCH"),
    ("zone", "ZONE"),
    ("kata", "KATA"),
    ("kernel", "GUEST-KERNEL"),
    ("hypervisor", "HYPERVISOR"),
    ("host", "HOST-KERNEL"),
    ("health", "HEALTH"),
    ("age", "AGE"),
)
WIDE_COLUMNS: tuple[tuple[str, str], ...] = (
    *COLUMNS[:-1],
    ("cpu", "CPU"),
    ("ready", "READY"),
    ("drift", "DRIFT"),
    ("runtime", "RUNTIME"),
    COLUMNS[-1],
)
HEALTH_ORDER = ("crit", "warn", "unknown", "ok")


def key_of(item: NodeRow) -> str:
    """The row key: unique across clusters."""
    return f"{item.cluster}/{item.name}"


def age(seconds: float) -> str:
    """kubectl's short age: 45s, 12m, 5h, 3d."""
    s = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"


def cells(item: NodeRow) -> dict[str, str]:
    """Every column's text for one node."""
    kata = item.kata_version or NONE
    kernel = item.guest_kernel or NONE
    return {
        "name": item.name,
        "cluster": item.cluster,
        "arch": item.arch or NONE,
        "zone": item.zone or NONE,
        "kata": kata + (" (drift)" if item.drift else ""),
        "kernel": kernel + (" *" if item.custom_kernel else ""),
        "hypervisor": " ".join(x for x in (item.hypervisor, item.hypervisor_version) if x) or NONE,
        "host": item.host_kernel or NONE,
        "health": item.health.value,
        "age": age(item.age_s),
        "cpu": f"{item.cpu:g}",
        "ready": "Ready" if item.ready else "NotReady",
        "drift": "; ".join(item.drift) or NONE,
        "runtime": item.container_runtime or NONE,
    }


@dataclass(frozen=True)
class Totals:
    """The header line."""

    clusters: int
    nodes: int
    vcpus: float
    releases: int
    drift: int
    custom_kernels: int
    health: dict[str, int]


def totals(items: Sequence[NodeRow]) -> Totals:
    """Counts over the whole fleet (not the filter)."""
    health = Counter(i.health.value for i in items)
    return Totals(
        clusters=len({i.cluster for i in items}),
        nodes=len(items),
        vcpus=sum(i.cpu for i in items),
        releases=len({i.kata_version for i in items if i.kata_version}),
        drift=sum(1 for i in items if i.drift),
        custom_kernels=sum(1 for i in items if i.custom_kernel),
        health={h: health.get(h, 0) for h in HEALTH_ORDER},
    )


@dataclass(frozen=True)
class Matrix:
    """Nodes per Kata release (newest first) and arch."""

    releases: list[str]
    arches: list[str]
    counts: dict[tuple[str, str], int] = field(default_factory=dict)


def matrix(items: Iterable[NodeRow]) -> Matrix:
    """The release x arch matrix; nodes without Kata count under <none>."""
    counts: Counter[tuple[str, str]] = Counter()
    for i in items:
        counts[(i.kata_version or NONE, i.arch or NONE)] += 1
    releases = sorted({r for r, _ in counts}, key=_release_order)
    arches = sorted({a for _, a in counts})
    return Matrix(releases, arches, dict(counts))


def _release_order(version: str) -> tuple[int, str]:
    try:
        return (0, _invert(KataVersion.parse(version).sort_key()))
    except ValueError:
        return (1, version)


def _invert(key: str) -> str:
    return "".join(chr(0x10FFFF - ord(c)) for c in key)  # newest first in an ascending sort


def kernels(items: Iterable[NodeRow]) -> list[tuple[str, bool, int]]:
    """(guest kernel build, custom, nodes), most common first."""
    counts: Counter[tuple[str, bool]] = Counter((i.guest_kernel or NONE, bool(i.custom_kernel)) for i in items)
    return [(k, custom, n) for (k, custom), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


@dataclass(frozen=True)
class RowDiff:
    """How to turn the table's rows into the new ones."""

    added: list[str]
    removed: list[str]
    changed: dict[str, dict[str, str]]  # key -> the cells that differ


def diff_rows(old: Mapping[str, Mapping[str, str]], new: Mapping[str, Mapping[str, str]]) -> RowDiff:
    """Keyed differences between two row sets."""
    added = [k for k in new if k not in old]
    removed = [k for k in old if k not in new]
    changed: dict[str, dict[str, str]] = {}
    for k, row in new.items():
        before = old.get(k)
        if before is not None and before != row:
            changed[k] = {c: v for c, v in row.items() if before.get(c) != v}
    return RowDiff(added, removed, changed)


SORT_KEYS: dict[str, Callable[[NodeRow], Any]] = {
    "name": lambda i: (i.cluster, i.name),
    "cluster": lambda i: (i.cluster, i.name),
    "arch": lambda i: (i.arch or "~", i.name),
    "zone": lambda i: (i.zone or "~", i.name),
    "kata": lambda i: (i.kata_sort, i.name),
    "kernel": lambda i: (i.guest_kernel or "~", i.name),
    "hypervisor": lambda i: (i.hypervisor_version or "~", i.name),
    "host": lambda i: (i.host_kernel or "~", i.name),
    "health": lambda i: (HEALTH_ORDER.index(i.health), i.name),
    "age": lambda i: (-i.age_s, i.name),
    "cpu": lambda i: (i.cpu, i.name),
    "ready": lambda i: (bool(i.ready), i.name),
    "drift": lambda i: (not i.drift, i.name),
    "runtime": lambda i: (i.container_runtime or "~", i.name),
}
