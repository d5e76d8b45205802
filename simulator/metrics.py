"""kata-monitor's ``/metrics`` for each node, in the Prometheus text format, with upstream's families.

The families, their types, label names and ``item`` values are upstream Kata's
(``simulator.katafamilies`` says where each comes from). Per node there are kata-monitor's own
families (``kata_monitor_*``, its Go and process collectors as ``kata_monitor_go_*`` and
``kata_monitor_process_*``). Every running Kata sandbox on the node contributes its shim,
hypervisor, agent and guest families, each series labelled ``sandbox_id``, ``cri_uid``,
``cri_name`` and ``cri_namespace`` after its own labels, as kata-monitor appends them.

Counters and histograms grow with simulated time. They are advanced at each scrape by the
requests made since the last one, so they stay monotonic even when a health regression changes
the latency distribution underneath them.

What does not change between scrapes is rendered once per sandbox, when it is first seen, and kept
while it runs (most of it from a few shared templates, one per variant and guest disk, with a
placeholder where the sandbox's labels go); a scrape renders only what moves and joins the rest.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from simulator import katafamilies as kf
from simulator.objectstore import Obj

if TYPE_CHECKING:
    from simulator.world import World

BUCKETS_MS = tuple(2.0**i for i in range(12))
"""The RPC histograms' buckets: 1 .. 2048 ms, then +Inf. Upstream's stop at 512 ms; ours go on so
that the p99 of a regressed release (10x, above 1 s) still falls in a finite bucket."""
MONITOR_BUCKETS_MS = tuple(2.0**i for i in range(10))  # upstream's ExponentialBuckets(1, 2, 10): 1 .. 512 ms
# (family, action) -> (requests per simulated second, mean latency in ms)
RPCS: dict[tuple[str, str], tuple[float, float]] = {
    ("kata_shim_rpc_durations_histogram_milliseconds", "create"): (0.02, 60.0),
    ("kata_shim_rpc_durations_histogram_milliseconds", "state"): (0.2, 3.0),
    ("kata_shim_agent_rpc_durations_histogram_milliseconds", "grpc.CreateContainerRequest"): (0.02, 30.0),
}
GET_METRICS = ("kata_shim_agent_rpc_durations_histogram_milliseconds", "grpc.GetMetricsRequest")
GET_METRICS_MS = 3.0  # each scrape of kata-monitor makes every shim ask its agent for metrics once
# (family, action) -> the latencies (ms) of the calls made once, when the sandbox started
ONE_SHOT_RPCS: dict[tuple[str, str], tuple[float, ...]] = {
    ("kata_shim_rpc_durations_histogram_milliseconds", "start"): (45.0, 9.0),  # the pause container, the workload
    ("kata_shim_agent_rpc_durations_histogram_milliseconds", "grpc.CreateSandboxRequest"): (140.0,),
}
GO_VERSION = "go1.24.9"  # the go_info version of kata-monitor and the shims
GUEST_MEMORY = 2 * 1024**3
VCPUS = 2
VARIANTS = 8  # sandboxes share the values of the series the product does not read, in this many variants
INTERFACES = ("eth0", "tap0_kata")
"""The pod network namespace's devices, where the shim and the hypervisor run (its ``lo`` is left out, to
keep a scrape smaller: it carries nothing of the pod's)."""
MAX_U64 = "1.8446744073709552e+19"

_PH, _SEP = "\x00", "\x01"  # where a sandbox's labels go; between two families' text
_FAMILIES = (*kf.MONITOR_FAMILIES, *kf.SANDBOX_FAMILIES)
_HELP: dict[str, tuple[str, str]] = {f.name: (f.kind, f.help) for f in _FAMILIES}
"""name -> (type, help) of every family served (scripts/check-dashboard.py reads it)."""
_N = len(kf.SANDBOX_FAMILIES)
_INDEX = {f.name: i for i, f in enumerate(kf.SANDBOX_FAMILIES)}
_HEADERS = [f"# HELP {f.name} {f.help}\n# TYPE {f.name} {f.kind}\n" for f in _FAMILIES]
_SB_HEADERS = tuple(_HEADERS[len(kf.MONITOR_FAMILIES) :])
_MIB = 1024**2


@functools.lru_cache(maxsize=1024)
def _shares(mean_ms: float, buckets: tuple[float, ...] = BUCKETS_MS) -> tuple[float, ...]:
    """The share of requests at most ``le`` ms, for each bucket, when latency is exponential with ``mean_ms``."""
    return tuple(1.0 - math.exp(-le / mean_ms) for le in buckets)


@dataclass
class _Histogram:
    buckets: list[float] = field(default_factory=lambda: [0.0] * len(BUCKETS_MS))
    count: float = 0.0
    total: float = 0.0
    shown: tuple[int, str] = (-1, "")  # the whole requests it showed, and its text then

    def observe(self, n: float, mean_ms: float) -> None:
        if not n:
            return
        self.buckets = [b + n * share for b, share in zip(self.buckets, _shares(mean_ms), strict=True)]
        self.count += n
        self.total += n * mean_ms


def _esc(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


@functools.cache
def _hist_prefixes(family: str, action: str) -> tuple[str, ...]:
    head = f'{family}_bucket{{action="{action}",{_PH},le="'
    return (
        *(f'{head}{le:g}"}} ' for le in BUCKETS_MS),
        f'{head}+Inf"}} ',
        f'{family}_sum{{action="{action}",{_PH}}} ',
        f'{family}_count{{action="{action}",{_PH}}} ',
    )


@functools.cache
def _hist_format(family: str, action: str) -> str:
    return "".join(f"{_esc(p)}{{}}\n" for p in _hist_prefixes(family, action))


def _hist_text(family: str, action: str, hist: _Histogram) -> str:
    """Its series; shown again as they were until a whole request more has been made."""
    count = round(hist.count)
    if hist.shown[0] != count:
        text = _hist_format(family, action).format(*map(round, hist.buckets), count, f"{hist.total:.3f}", count)
        hist.shown = (count, text)
    return hist.shown[1]


@dataclass
class _Sandbox:
    sandbox_id: str
    labels: str
    last: float
    seed: int
    started: float  # wall-clock seconds, when first seen
    shared: list[str]  # per family: the series that never change (from its variant's template, and its own)
    age: float = 0.0  # simulated seconds since first seen
    scrapes: int = 0
    histograms: dict[tuple[str, str], _Histogram] = field(default_factory=dict)


@dataclass
class _NodeCounters:
    scrapes: int = 0
    failed: float = 0.0
    scrape_buckets: list[int] = field(default_factory=lambda: [0] * len(MONITOR_BUCKETS_MS))
    scrape_ms: float = 0.0
    sandboxes: set[str] = field(default_factory=set)  # pod uids seen at the last scrape


class KataMonitor:
    """Metrics state for every node's kata-monitor."""

    def __init__(self, world: World, *, lean: bool = False) -> None:
        self.world = world
        self.lean = lean  # only the families fleetctl reads (LEAN): about 40% of the text, for big demos
        self._sandboxes: dict[str, _Sandbox] = {}  # by pod uid
        self._nodes: dict[str, _NodeCounters] = {}
        self._started = time.time() - (time.monotonic() - world.started)  # kata-monitor's start, wall clock

    def render(self, node: str) -> str:
        """The exposition text for one node (one scrape)."""
        world = self.world
        truth = world.nodes[node]
        regression = world.faults.regression_for(truth.spec.arch, truth.installed)
        factor = regression.rpcLatencyFactor if regression else 1.0
        now = time.monotonic()
        blind = node in world.faults.kataMonitorBlind  # 4.0's kata-monitor and runtime-rs sandboxes (#12666)
        pods = [] if blind else [e.obj for e in world.pods_on(node) if _is_sandbox(e.obj)]
        counters = self._nodes.setdefault(node, _NodeCounters())
        counters.scrapes += 1
        if regression and regression.scrapeFailures:
            counters.failed += max(1, len(pods)) * 0.5
        took = (1.5 + 0.9 * len(pods)) * factor  # what aggregating the shims' metrics took
        for i, le in enumerate(MONITOR_BUCKETS_MS):
            if took <= le:
                counters.scrape_buckets[i] += 1
        counters.scrape_ms += took
        templates = _template("pmem0" if truth.spec.arch == "amd64" else "vda")
        rows: list[Sequence[str]] = [_SB_HEADERS]  # then each sandbox's shared and own text per family
        seen = set()
        for pod in pods:
            uid = pod["metadata"]["uid"]
            seen.add(uid)
            rows += self._advance(pod, now, factor, templates)
        for gone in counters.sandboxes - seen:
            self._sandboxes.pop(gone, None)
        counters.sandboxes = seen
        out = _monitor_text(counters, len(pods), self._started)
        if not pods:
            return out
        # family by family: its header, then each sandbox's series
        columns = list(zip(*rows, strict=True))
        if self.lean:
            columns = [columns[i] for i in _LEAN_INDEX]
        return out + "".join(itertools.chain.from_iterable(columns))

    def _advance(
        self, pod: Obj, now: float, factor: float, templates: tuple[tuple[str, ...], ...]
    ) -> tuple[list[str], list[str]]:
        """Advance this sandbox to ``now``; return its text per family: what never changes, and the rest."""
        meta = pod["metadata"]
        uid = meta["uid"]
        sandbox = self._sandboxes.get(uid)
        if sandbox is None:
            sandbox = self._sandboxes[uid] = _new_sandbox(meta, now, templates)
        dt = (now - sandbox.last) * self.world.time_scale
        sandbox.last = now
        sandbox.age += dt
        sandbox.scrapes += 1
        moving = dict.fromkeys(_MOVING, "")
        for (family, action), (rate, mean) in RPCS.items():
            hist = sandbox.histograms.setdefault((family, action), _Histogram())
            hist.observe(rate * dt, mean * factor)
            moving[family] += _hist_text(family, action, hist)
        hist = sandbox.histograms.setdefault(GET_METRICS, _Histogram())
        hist.observe(1.0, GET_METRICS_MS * factor)
        moving[GET_METRICS[0]] += _hist_text(*GET_METRICS, hist)
        for family, text in zip(
            _DYNAMIC_FAMILIES, _DYNAMIC_FORMAT.format(*_dynamic_values(sandbox)).split(_SEP), strict=True
        ):
            moving[family] += text
        own = [""] * _N
        labels = sandbox.labels
        for i, text in zip(_MOVING_INDEX, moving.values(), strict=True):
            own[i] = text.replace(_PH, labels)
        return sandbox.shared, own


def _is_sandbox(pod: Obj) -> bool:
    rc = pod["spec"].get("runtimeClassName") or ""
    return (
        rc.startswith("kata-")
        and pod.get("status", {}).get("phase") == "Running"
        and not pod["metadata"].get("deletionTimestamp")
    )


# -- a sandbox's own series -------------------------------------------------------------------


def _line(family: str, value: object, labels: str = "") -> str:
    """One series with the sandbox's labels (``_PH``) after ``labels`` (``name="value",`` pairs)."""
    return f"{family}{{{labels}{_PH}}} {value}\n"


def _new_sandbox(meta: dict[str, str], now: float, templates: tuple[tuple[str, ...], ...]) -> _Sandbox:
    uid = meta["uid"]
    sandbox_id = hashlib.sha256(uid.encode()).hexdigest()
    labels = f'sandbox_id="{sandbox_id}",cri_uid="{uid}",cri_name="{meta["name"]}",cri_namespace="{meta["namespace"]}"'
    seed = int(sandbox_id[:8], 16)
    started = time.time()
    fixed = [""] * _N

    def put(family: str, *lines: str) -> None:
        fixed[_INDEX[family]] += "".join(lines)

    # the values the product reads: the same per sandbox as ever
    shim_fds = 30 + seed % 20
    put("kata_shim_fds", _line("kata_shim_fds", shim_fds))
    put("kata_shim_threads", _line("kata_shim_threads", 18 + seed % 6))
    put("kata_shim_pod_overhead_cpu", _line("kata_shim_pod_overhead_cpu", 1 + seed % 5))
    put(
        "kata_shim_pod_overhead_memory_in_bytes",
        _line("kata_shim_pod_overhead_memory_in_bytes", (180 + seed % 60) * _MIB),
    )
    put("kata_hypervisor_fds", _line("kata_hypervisor_fds", 90 + seed % 30))
    put("kata_hypervisor_threads", _line("kata_hypervisor_threads", VCPUS + 8 + seed % 4))
    for item, value in (("vmrss", 310 * _MIB + seed % 4096 * 1024), ("vmsize", 2600 * _MIB)):
        put("kata_hypervisor_proc_status", _line("kata_hypervisor_proc_status", value, f'item="{item}",'))
    put("kata_agent_total_rss", _line("kata_agent_total_rss", (22 + seed % 8) * _MIB))
    for item, load in (("load1", 0.4 + seed % 10 / 10), ("load5", 0.35), ("load15", 0.3)):
        put("kata_guest_load", _line("kata_guest_load", f"{load:g}", f'item="{item}",'))
    for item, tasks in (("cur", 60 + seed % 40), ("max", 4096)):
        put("kata_guest_tasks", _line("kata_guest_tasks", tasks, f'item="{item}",'))
    free = GUEST_MEMORY * (0.25 + (seed % 50) / 100)
    for item, mem in (("mem_total", GUEST_MEMORY), ("mem_free", free), ("mem_available", free * 1.2)):
        put("kata_guest_meminfo", _line("kata_guest_meminfo", f"{mem:.0f}", f'item="{item}",'))
    # the rest of its own: start times, and the shim's fds as its process collector sees them
    put("kata_shim_process_open_fds", _line("kata_shim_process_open_fds", shim_fds))
    put("kata_shim_process_start_time_seconds", _line("kata_shim_process_start_time_seconds", f"{started:.2f}"))
    put("kata_agent_process_start_time_seconds", _line("kata_agent_process_start_time_seconds", f"{started + 0.6:.2f}"))
    template = templates[seed % VARIANTS]
    shared = [f"{t}{f}".replace(_PH, labels) for t, f in zip(template, fixed, strict=True)]
    return _Sandbox(sandbox_id, labels, now, seed, started, shared)


def _pre(family: str, labels: str = "") -> str:
    return f"{family}{{{labels}{_PH}}} "


_NET = [("eth0", "recv_bytes"), ("eth0", "sent_bytes"), ("tap0_kata", "recv_bytes"), ("tap0_kata", "sent_bytes")]
_CPUS = ("total", *(str(i) for i in range(VCPUS)))
_DYNAMIC: list[tuple[str, str, str]] = [  # (family, the series up to its value, the value's format), in _dynamic_values' order
    ("kata_shim_go_gc_duration_seconds", f"kata_shim_go_gc_duration_seconds_sum{{{_PH}}} ", ".6f"),
    ("kata_shim_go_gc_duration_seconds", f"kata_shim_go_gc_duration_seconds_count{{{_PH}}} ", "d"),
    ("kata_shim_process_cpu_seconds_total", _pre("kata_shim_process_cpu_seconds_total"), ".2f"),
    *((f, _pre(f, f'item="{i}",'), ".0f") for f in ("kata_shim_io_stat", "kata_hypervisor_io_stat") for i in ("rchar", "wchar")),
    *(("kata_hypervisor_proc_stat", _pre("kata_hypervisor_proc_stat", f'item="{i}",'), ".0f") for i in ("utime", "stime")),
    *((f, _pre(f, f'interface="{n}",item="{i}",'), ".0f") for f in ("kata_hypervisor_netdev", "kata_shim_netdev") for n, i in _NET),
    *(("kata_guest_netdev_stat", _pre("kata_guest_netdev_stat", f'interface="eth0",item="{i}",'), ".0f")
      for i in ("recv_bytes", "sent_bytes", "recv_packets", "sent_packets")),
    *(("kata_guest_cpu_time", _pre("kata_guest_cpu_time", f'cpu="{c}",item="{i}",'), ".0f")
      for c in _CPUS for i in ("user", "system", "idle")),
    ("kata_agent_scrape_count", _pre("kata_agent_scrape_count"), "d"),
    ("kata_agent_total_time", _pre("kata_agent_total_time"), ".2f"),
    ("kata_agent_process_cpu_seconds_total", _pre("kata_agent_process_cpu_seconds_total"), ".2f"),
]  # fmt: skip
_DYNAMIC_FAMILIES = list(dict.fromkeys(f for f, _, _ in _DYNAMIC))
_DYNAMIC_FORMAT = _SEP.join(
    "".join(f"{_esc(prefix)}{{:{spec}}}\n" for f, prefix, spec in _DYNAMIC if f == family)
    for family in _DYNAMIC_FAMILIES
)


_MOVING = list(dict.fromkeys([*(f for f, _ in RPCS), GET_METRICS[0], *_DYNAMIC_FAMILIES]))
"""The families with series that move between scrapes."""
_MOVING_INDEX = [_INDEX[f] for f in _MOVING]
LEAN = (  # what fleetctl's health checks, gates, dashboard and demo read, per sandbox
    "kata_shim_rpc_durations_histogram_milliseconds", "kata_shim_agent_rpc_durations_histogram_milliseconds",
    "kata_shim_fds", "kata_shim_threads", "kata_shim_pod_overhead_cpu", "kata_shim_pod_overhead_memory_in_bytes",
    "kata_hypervisor_fds", "kata_hypervisor_threads", "kata_hypervisor_proc_status", "kata_agent_total_rss",
    "kata_guest_load", "kata_guest_tasks", "kata_guest_meminfo",
)  # fmt: skip
_LEAN_INDEX = sorted(_INDEX[f] for f in LEAN if f in _INDEX)


def _dynamic_values(sb: _Sandbox) -> list[float]:
    """The values of the series in ``_DYNAMIC`` (besides the RPC histograms, what moves between scrapes)."""
    age, scrapes, seed = sb.age, sb.scrapes, sb.seed
    rx, tx = 40_000 + age * (1_500 + seed % 500), 30_000 + age * (1_200 + seed % 300)  # the pod's eth0, bytes
    gc = 20 + 2 * scrapes
    cpu = 0.3 + age * 0.0008
    per_cpu = (5_000 + age * 40, 3_000 + age * 20, 1_000 + age * 940)  # ms: 4% user, 2% system, the rest idle
    return [
        gc * 6.1e-05, gc, 0.4 + age * 0.0015,
        1_200_000 + age * 900, 800_000 + age * 500, 50_000_000 + age * 40_000, 20_000_000 + age * 25_000,
        150 + age * 0.8, 90 + age * 0.5,
        rx, tx, tx, rx, rx, tx, tx, rx,
        rx, tx, rx / 900, tx / 700,
        *(ms * VCPUS for ms in per_cpu), *(per_cpu * VCPUS),
        scrapes, cpu, cpu,
    ]  # fmt: skip


# -- the series sandboxes share ---------------------------------------------------------------


@functools.cache
def _template(disk: str) -> tuple[tuple[str, ...], ...]:
    """Per variant: the shared series of every family, with ``_PH`` for the sandbox's labels."""
    return tuple(_variant(v, disk) for v in range(VARIANTS))


def _variant(v: int, disk: str) -> tuple[str, ...]:
    rng = random.Random(7919 * v + (1 if disk == "vda" else 0))
    text = [""] * _N

    def put(family: str, lines: Iterable[str]) -> None:
        text[_INDEX[family]] += "".join(lines)

    def items(family: str, values: Mapping[str, object], extra: str = "") -> list[str]:
        return [_line(family, value, f'{extra}item="{item}",') for item, value in values.items()]

    def jitter(x: float) -> int:
        return round(x * rng.uniform(0.9, 1.1))

    # the shim's Go and process collectors
    quantiles = [f'kata_shim_go_gc_duration_seconds{{{_PH},quantile="{q}"}} {s:.6g}\n'
                 for q, s in (("0", 2.1e-05), ("0.25", 3.4e-05), ("0.5", 5.2e-05), ("0.75", 7.9e-05), ("1", 0.00031))]  # fmt: skip
    put("kata_shim_go_gc_duration_seconds", quantiles)
    put("kata_shim_go_goroutines", [_line("kata_shim_go_goroutines", 34 + v)])
    put("kata_shim_go_info", [_line("kata_shim_go_info", 1, f'version="{GO_VERSION}",')])
    put("kata_shim_go_threads", [_line("kata_shim_go_threads", 12 + v % 4)])
    heap = jitter(9 * _MIB)
    memstats = {
        "alloc_bytes": heap, "alloc_bytes_total": jitter(900 * _MIB), "buck_hash_sys_bytes": 1_470_000 + v,
        "frees_total": jitter(4_100_000), "gc_cpu_fraction": f"{0.00002 * (1 + v):.6g}", "gc_sys_bytes": jitter(3 * _MIB),
        "heap_alloc_bytes": heap, "heap_idle_bytes": jitter(6 * _MIB), "heap_inuse_bytes": jitter(11 * _MIB),
        "heap_objects": jitter(52_000), "heap_released_bytes": jitter(4 * _MIB), "heap_sys_bytes": jitter(17 * _MIB),
        "last_gc_time_seconds": "1.7646e+09", "lookups_total": 0, "mallocs_total": jitter(4_150_000),
        "mcache_inuse_bytes": 4_800, "mcache_sys_bytes": 15_600, "mspan_inuse_bytes": jitter(180_000),
        "mspan_sys_bytes": jitter(260_000), "next_gc_bytes": jitter(14 * _MIB), "other_sys_bytes": jitter(900_000),
        "stack_inuse_bytes": jitter(950_000), "stack_sys_bytes": jitter(950_000), "sys_bytes": jitter(25 * _MIB),
    }  # fmt: skip
    for name, value in memstats.items():
        put(f"kata_shim_go_memstats_{name}", [_line(f"kata_shim_go_memstats_{name}", value)])
    put("kata_shim_process_max_fds", [_line("kata_shim_process_max_fds", 1_048_576)])
    put(
        "kata_shim_process_resident_memory_bytes", [_line("kata_shim_process_resident_memory_bytes", jitter(42 * _MIB))]
    )
    put(
        "kata_shim_process_virtual_memory_bytes", [_line("kata_shim_process_virtual_memory_bytes", jitter(1900 * _MIB))]
    )
    put("kata_shim_process_virtual_memory_max_bytes", [_line("kata_shim_process_virtual_memory_max_bytes", MAX_U64)])

    # the shim's and the hypervisor's /proc
    def status(rss: float, size: float, *, pmd: bool = True) -> dict[str, object]:
        out: dict[str, object] = {
            "vmpeak": jitter(size * 1.02), "vmsize": jitter(size), "vmlck": 0, "vmpin": 0, "vmhwm": jitter(rss * 1.1),
            "vmrss": jitter(rss), "rssanon": jitter(rss * 0.7), "rssfile": jitter(rss * 0.3), "rssshmem": 0,
            "vmdata": jitter(size * 0.3), "vmstk": 135_168, "vmexe": jitter(size * 0.01), "vmlib": jitter(size * 0.004),
            "vmpte": jitter(rss * 0.004), "vmpmd": 12_288, "vmswap": 0, "hugetlbpages": 0,
            "voluntary_ctxt_switches": jitter(1_400), "nonvoluntary_ctxt_switches": jitter(60),
        }  # fmt: skip
        if not pmd:
            del out["vmpmd"]
        return out

    put("kata_shim_proc_status", items("kata_shim_proc_status", status(42 * _MIB, 1900 * _MIB)))
    hypervisor = status(312 * _MIB, 2600 * _MIB)
    del hypervisor["vmrss"], hypervisor["vmsize"]  # each sandbox's own (the product reads vmrss)
    put("kata_hypervisor_proc_status", items("kata_hypervisor_proc_status", hypervisor))
    ticks = {"utime": jitter(40), "stime": jitter(25), "cutime": 0, "cstime": 0}
    put("kata_shim_proc_stat", items("kata_shim_proc_stat", ticks))
    put("kata_hypervisor_proc_stat", items("kata_hypervisor_proc_stat", {"cutime": 0, "cstime": 0}))
    io = {
        "syscr": jitter(9_000),
        "syscw": jitter(5_000),
        "readbytes": 0,
        "writebytes": jitter(40_960),
        "cancelledwritebytes": 0,
    }
    put("kata_shim_io_stat", items("kata_shim_io_stat", io))
    put("kata_hypervisor_io_stat", items("kata_hypervisor_io_stat", {**io, "readbytes": jitter(48 * _MIB)}))
    # the pod network namespace: all of eth0 and tap0_kata but their bytes, which move
    for family in ("kata_shim_netdev", "kata_hypervisor_netdev"):
        for interface in INTERFACES:
            values: dict[str, object] = dict.fromkeys(kf.NETDEV, 0)
            values |= {"recv_packets": jitter(900), "sent_packets": jitter(700)}
            del values["recv_bytes"], values["sent_bytes"]
            put(family, items(family, values, f'interface="{interface}",'))
    # the agent
    put("kata_agent_io_stat", items("kata_agent_io_stat", {
        "rchar": jitter(3_000_000), "wchar": jitter(1_500_000), "syscr": jitter(4_000), "syscw": jitter(2_500),
        "read_bytes": 0, "write_bytes": 0, "cancelled_write_bytes": 0}))  # fmt: skip
    put(
        "kata_agent_proc_stat",
        items("kata_agent_proc_stat", {"utime": jitter(20), "stime": jitter(12), "cutime": 0, "cstime": 0}),
    )
    put("kata_agent_proc_status", items("kata_agent_proc_status", status(26 * _MIB, 60 * _MIB, pmd=False)))
    put("kata_agent_process_max_fds", [_line("kata_agent_process_max_fds", 1_048_576)])
    put("kata_agent_process_open_fds", [_line("kata_agent_process_open_fds", 22 + v)])
    put(
        "kata_agent_process_resident_memory_bytes",
        [_line("kata_agent_process_resident_memory_bytes", jitter(26 * _MIB))],
    )
    put(
        "kata_agent_process_virtual_memory_bytes", [_line("kata_agent_process_virtual_memory_bytes", jitter(60 * _MIB))]
    )
    put("kata_agent_threads", [_line("kata_agent_threads", 7 + v % 3)])
    put("kata_agent_total_vm", [_line("kata_agent_total_vm", jitter(60 * _MIB))])
    # the guest
    put("kata_guest_cpu_time", [
        _line("kata_guest_cpu_time", jitter(value) * (VCPUS if cpu == "total" else 1), f'cpu="{cpu}",item="{item}",')
        for cpu in ("total", *(str(i) for i in range(VCPUS)))
        for item, value in (("nice", 0), ("iowait", 150), ("irq", 0), ("softirq", 40), ("steal", 10), ("guest", 0), ("guest_nice", 0))
    ])  # fmt: skip
    reads, writes = jitter(2_400), jitter(300)
    disk_values: dict[str, object] = dict.fromkeys(kf.DISKSTAT, 0)
    disk_values |= {
        "reads": reads, "merged": reads // 10, "sectors_read": reads * 40, "time_reading": reads // 2, "writes": writes,
        "sectors_written": writes * 8, "time_writing": writes, "time_in_progress": reads // 2 + writes,
        "weighted_time_in_progress": reads + writes,
    }  # fmt: skip
    put("kata_guest_diskstat", items("kata_guest_diskstat", disk_values, f'disk="{disk}",'))
    meminfo: dict[str, object] = dict.fromkeys(kf.MEMINFO, 0)
    meminfo |= {
        "buffers": jitter(8 * _MIB), "cached": jitter(300 * _MIB), "active": jitter(200 * _MIB),
        "inactive": jitter(250 * _MIB), "active_anon": jitter(120 * _MIB), "inactive_anon": jitter(40 * _MIB),
        "active_file": jitter(80 * _MIB), "inactive_file": jitter(210 * _MIB), "dirty": 4096 * v,
        "anon_pages": jitter(150 * _MIB), "mapped": jitter(60 * _MIB), "shmem": jitter(150 * _MIB),
        "slab": jitter(40 * _MIB), "s_reclaimable": jitter(15 * _MIB), "s_unreclaim": jitter(25 * _MIB),
        "kernel_stack": 2 * _MIB, "page_tables": jitter(3 * _MIB), "commit_limit": GUEST_MEMORY // 2,
        "committed_as": jitter(500 * _MIB), "vmalloc_total": 35_184_372_087_808, "vmalloc_used": jitter(12 * _MIB),
        "hugepagesize": 2 * _MIB, "direct_map_4k": jitter(60 * _MIB), "direct_map_2M": GUEST_MEMORY - 64 * _MIB,
        "per_cpu": _MIB, "k_reclaimable": jitter(18 * _MIB),
    }  # fmt: skip
    for own in ("mem_total", "mem_free", "mem_available"):  # each sandbox's own (the product reads them)
        del meminfo[own]
    put("kata_guest_meminfo", items("kata_guest_meminfo", meminfo))
    lo_guest = jitter(2_000)
    guest_lo: dict[str, object] = dict.fromkeys(kf.NETDEV, 0)
    guest_lo |= {
        "recv_bytes": lo_guest,
        "sent_bytes": lo_guest,
        "recv_packets": lo_guest // 50,
        "sent_packets": lo_guest // 50,
    }
    put("kata_guest_netdev_stat", items("kata_guest_netdev_stat", guest_lo, 'interface="lo",'))
    guest_eth0 = {i: 0 for i in kf.NETDEV if i not in ("recv_bytes", "sent_bytes", "recv_packets", "sent_packets")}
    put("kata_guest_netdev_stat", items("kata_guest_netdev_stat", guest_eth0, 'interface="eth0",'))
    pages = GUEST_MEMORY // 4096
    vm_stat = {
        "nr_free_pages": jitter(pages * 0.45), "nr_zone_inactive_anon": jitter(10_000), "nr_zone_active_anon": jitter(30_000),
        "nr_zone_inactive_file": jitter(52_000), "nr_zone_active_file": jitter(20_000), "nr_zone_unevictable": 0,
        "nr_mlock": 0, "nr_page_table_pages": jitter(750), "nr_kernel_stack": 2_048, "nr_anon_pages": jitter(38_000),
        "nr_mapped": jitter(15_000), "nr_file_pages": jitter(76_000), "nr_dirty": v, "nr_writeback": 0,
        "nr_shmem": jitter(38_000), "nr_slab_reclaimable": jitter(3_800), "nr_slab_unreclaimable": jitter(6_400),
        "pgpgin": jitter(120_000), "pgpgout": jitter(9_000), "pswpin": 0, "pswpout": 0, "pgfault": jitter(2_600_000),
        "pgmajfault": jitter(700), "pgfree": jitter(3_100_000), "workingset_refault": 0, "oom_kill": 0,
    }  # fmt: skip
    put("kata_guest_vm_stat", items("kata_guest_vm_stat", vm_stat))
    # the RPCs made once, when the sandbox started
    for (family, action), latencies in ONE_SHOT_RPCS.items():
        prefixes = _hist_prefixes(family, action)
        counts = [sum(1 for ms in latencies if ms <= le) for le in BUCKETS_MS]
        put(family, [f"{p}{c}\n" for p, c in zip(prefixes, counts, strict=False)])
        n = len(latencies)
        put(family, [f"{prefixes[-3]}{n}\n{prefixes[-2]}{sum(latencies):.3f}\n{prefixes[-1]}{n}\n"])
    return tuple(text)


# -- kata-monitor's own ---------------------------------------------------------------------


@functools.cache
def _monitor_format() -> str:
    """kata-monitor's own families for a node, with a ``{name}`` field for each value."""
    values = {
        "kata_monitor_go_memstats_buck_hash_sys_bytes": 1_460_000,
        "kata_monitor_go_memstats_gc_cpu_fraction": "1.2e-05",
        "kata_monitor_go_memstats_gc_sys_bytes": 2_900_000,
        "kata_monitor_go_memstats_heap_idle_bytes": 5 * _MIB,
        "kata_monitor_go_memstats_heap_inuse_bytes": 6 * _MIB,
        "kata_monitor_go_memstats_heap_released_bytes": 3 * _MIB,
        "kata_monitor_go_memstats_heap_sys_bytes": 11 * _MIB,
        "kata_monitor_go_memstats_lookups_total": 0,
        "kata_monitor_go_memstats_mcache_inuse_bytes": 4_800,
        "kata_monitor_go_memstats_mcache_sys_bytes": 15_600,
        "kata_monitor_go_memstats_mspan_inuse_bytes": 120_000,
        "kata_monitor_go_memstats_mspan_sys_bytes": 163_000,
        "kata_monitor_go_memstats_next_gc_bytes": 8 * _MIB,
        "kata_monitor_go_memstats_other_sys_bytes": 800_000,
        "kata_monitor_go_memstats_stack_inuse_bytes": 700_000,
        "kata_monitor_go_memstats_stack_sys_bytes": 700_000,
        "kata_monitor_go_memstats_sys_bytes": 18 * _MIB,
        "kata_monitor_go_threads": 11,
        "kata_monitor_process_max_fds": 1_048_576,
        "kata_monitor_process_virtual_memory_bytes": 1_300 * _MIB,
        "kata_monitor_process_virtual_memory_max_bytes": MAX_U64,
    }
    name = "kata_monitor_scrape_durations_histogram_milliseconds"
    special = {
        "kata_monitor_go_gc_duration_seconds": "".join(
            f'kata_monitor_go_gc_duration_seconds{{{{quantile="{q}"}}}} {v}\n'
            for q, v in (
                ("0", "1.9e-05"),
                ("0.25", "3.1e-05"),
                ("0.5", "4.4e-05"),
                ("0.75", "6.2e-05"),
                ("1", "0.00021"),
            )
        )
        + "kata_monitor_go_gc_duration_seconds_sum {gc_sum:.6f}\nkata_monitor_go_gc_duration_seconds_count {gc}\n",
        "kata_monitor_go_info": f'kata_monitor_go_info{{{{version="{GO_VERSION}"}}}} 1\n',
        name: "".join(f'{name}_bucket{{{{le="{le:g}"}}}} {{b{i}}}\n' for i, le in enumerate(MONITOR_BUCKETS_MS))
        + f'{name}_bucket{{{{le="+Inf"}}}} {{scrapes}}\n{name}_sum {{scrape_ms:.0f}}\n{name}_count {{scrapes}}\n',
    }
    out = []
    for family, header in zip(kf.MONITOR_FAMILIES, _HEADERS, strict=False):
        out.append(_esc(header))
        field = family.name.removeprefix("kata_monitor_")
        value = _esc(str(values[family.name])) if family.name in values else f"{{{field}}}"
        out.append(special.get(family.name) or f"{family.name} {value}\n")
    return "".join(out)


def _monitor_text(counters: _NodeCounters, shims: int, started: float) -> str:
    """kata-monitor's own families for one node: its Go and process collectors, then ``kata_monitor_*``."""
    scrapes = counters.scrapes
    gc = 10 + 3 * scrapes
    allocated = 6 * _MIB + scrapes * (200_000 + 150_000 * shims)
    heap = 4 * _MIB + 90_000 * shims
    return _monitor_format().format(
        **{f"b{i}": n for i, n in enumerate(counters.scrape_buckets)},
        gc=gc,
        gc_sum=gc * 4.5e-05,
        go_goroutines=14 + shims,
        go_memstats_alloc_bytes=heap,
        go_memstats_alloc_bytes_total=allocated,
        go_memstats_frees_total=allocated // 130,
        go_memstats_heap_alloc_bytes=heap,
        go_memstats_heap_objects=30_000 + 800 * shims,
        go_memstats_last_gc_time_seconds=f"{time.time() - 1.5:.3f}",
        go_memstats_mallocs_total=allocated // 128,
        process_cpu_seconds_total=f"{0.25 + scrapes * (0.001 + 0.0004 * shims):.2f}",
        process_open_fds=10 + shims,
        process_resident_memory_bytes=38 * _MIB + _MIB * shims // 2,
        process_start_time_seconds=f"{started:.2f}",
        running_shim_count=shims,
        scrape_count=scrapes,
        scrape_failed_count=round(counters.failed),
        scrapes=scrapes,
        scrape_ms=counters.scrape_ms,
    )
