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


# The totals bar's parts that may shorten or go, least needed first: (key, long label, short label).
# The health counts never shorten or go (counts are never cut), nor the node count.
TOTALS_PARTS: tuple[tuple[str, str, str], ...] = (
    ("vcpus", "vCPUs", "vCPU"),
    ("releases", "Kata releases", "rel"),
    ("custom_kernels", "custom kernels", "custom"),
    ("clusters", "clusters", "clusters"),
    ("drift", "drift", "drift"),
)
TOTALS_ORDER = ("clusters", "nodes", "vcpus", "releases", "drift", "custom_kernels")  # as shown, left to right


def totals_line(t: Totals, data_age: str, width: int) -> tuple[str, str]:
    """The totals bar as (Rich markup, plain text) no wider than ``width``: the least needed
    parts shorten, then go, then the age shortens; the health counts are always there, whole.
    Only a bar narrower than the counts themselves is cut, with an ellipsis."""
    numbers = {
        "clusters": f"{t.clusters}", "nodes": f"{t.nodes}", "vcpus": f"{t.vcpus:g}", "releases": f"{t.releases}",
        "drift": f"{t.drift}", "custom_kernels": f"{t.custom_kernels}",
    }  # fmt: skip
    labels = {"nodes": "nodes", **{k: long for k, long, _ in TOTALS_PARTS}}
    shown = list(TOTALS_ORDER)
    health = [f"{h} {n}" for h, n in t.health.items()]
    ages = [data_age, data_age.removeprefix("data ")]

    def build(gap: str, age_text: str | None) -> tuple[str, str]:
        facts = [(numbers[k], labels[k]) for k in shown]
        sections = [
            (gap.join(f"[b]{n}[/] {label}" for n, label in facts), gap.join(f"{n} {label}" for n, label in facts)),
            (gap.join(health), gap.join(health)),
            (age_text or "", age_text or ""),
        ]
        kept = [(m, p) for m, p in sections if p]
        return f"{gap}|{gap}".join(m for m, _ in kept), f"{gap}|{gap}".join(p for _, p in kept)

    candidates: list[tuple[str, str]] = [build("  ", ages[0])]
    for key, _, short in TOTALS_PARTS:  # shorten, least needed first
        labels[key] = short
        candidates.append(build("  ", ages[0]))
    candidates.append(build(" ", ages[0]))
    for key, _, _ in TOTALS_PARTS:  # then drop, least needed first
        shown.remove(key)
        candidates.append(build(" ", ages[0]))
    candidates.append(build(" ", ages[1]))
    shown.clear()
    candidates += [build(" ", ages[1]), build(" ", None)]  # the counts alone, last
    for markup, plain in candidates:
        if len(plain) <= width:
            return markup, plain
    plain = candidates[-1][1]
    cut = plain[: max(0, width - 1)] + "…"
    return escape_markup(cut), cut


def escape_markup(text: str) -> str:
    """Text shown literally in a Static (``[`` would start markup)."""
    return text.replace("[", "\\[")


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
