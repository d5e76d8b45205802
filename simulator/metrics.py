"""kata-monitor's ``/metrics`` for each node, in the Prometheus text format, with the real names.

Every running Kata sandbox on a node contributes its shim, hypervisor, agent and guest series,
labelled ``sandbox_id``, ``cri_uid``, ``cri_name`` and ``cri_namespace`` as kata-monitor labels
them. Counters and histograms grow with simulated time. They are advanced at each scrape by
the requests made since the last one, so they stay monotonic even when a health regression
changes the latency distribution underneath them.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from simulator.objectstore import Obj

if TYPE_CHECKING:
    from simulator.world import World

BUCKETS_MS = tuple(2.0**i for i in range(12))  # 1 .. 2048 ms, then +Inf
# (family, action) -> (requests per simulated second, mean latency in ms)
RPCS: dict[tuple[str, str], tuple[float, float]] = {
    ("kata_shim_rpc_durations_histogram_milliseconds", "create"): (0.02, 60.0),
    ("kata_shim_rpc_durations_histogram_milliseconds", "state"): (0.2, 3.0),
    ("kata_shim_agent_rpc_durations_histogram_milliseconds", "grpc.CreateContainerRequest"): (0.02, 30.0),
}
_HELP = {
    "kata_monitor_running_shim_count": ("gauge", "Running shim count(running sandboxes)."),
    "kata_monitor_scrape_count": ("counter", "Scape count."),
    "kata_monitor_scrape_failed_count": ("counter", "Failed scape count."),
    "kata_shim_rpc_durations_histogram_milliseconds": ("histogram", "RPC latency distributions."),
    "kata_shim_agent_rpc_durations_histogram_milliseconds": ("histogram", "RPC latency distributions."),
    "kata_shim_fds": ("gauge", "Kata containerd shim v2 open FDs."),
    "kata_shim_threads": ("gauge", "Kata containerd shim v2 process threads."),
    "kata_shim_pod_overhead_cpu": ("gauge", "Kata Pod overhead for CPU resources(percent)."),
    "kata_shim_pod_overhead_memory_in_bytes": ("gauge", "Kata Pod overhead for memory resources(bytes)."),
    "kata_hypervisor_fds": ("gauge", "Open FDs for hypervisor."),
    "kata_hypervisor_threads": ("gauge", "Hypervisor process threads."),
    "kata_hypervisor_proc_status": ("gauge", "Hypervisor process status."),
    "kata_agent_total_rss": ("gauge", "Agent process total rss size"),
    "kata_guest_load": ("gauge", "Guest system load."),
    "kata_guest_tasks": ("gauge", "Guest system tasks."),
    "kata_guest_meminfo": ("gauge", "Statistics about memory usage in the guest."),
}
GUEST_MEMORY = 2 * 1024**3


@dataclass
class _Histogram:
    buckets: list[float] = field(default_factory=lambda: [0.0] * len(BUCKETS_MS))
    count: float = 0.0
    total: float = 0.0

    def observe(self, n: float, mean_ms: float) -> None:
        for i, le in enumerate(BUCKETS_MS):
            self.buckets[i] += n * (1.0 - math.exp(-le / mean_ms))
        self.count += n
        self.total += n * mean_ms


@dataclass
class _Sandbox:
    sandbox_id: str
    last: float
    histograms: dict[tuple[str, str], _Histogram] = field(default_factory=dict)


@dataclass
class _NodeCounters:
    scrapes: int = 0
    failed: float = 0.0


class KataMonitor:
    """Metrics state for every node's kata-monitor."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._sandboxes: dict[str, _Sandbox] = {}  # by pod uid
        self._nodes: dict[str, _NodeCounters] = {}

    def render(self, node: str) -> str:
        """The exposition text for one node (one scrape)."""
        world = self.world
        truth = world.nodes[node]
        regression = world.faults.regression_for(truth.spec.arch, truth.installed)
        factor = regression.rpcLatencyFactor if regression else 1.0
        now = time.monotonic()
        pods = [e.obj for e in world.pods_on(node) if _is_sandbox(e.obj)]
        counters = self._nodes.setdefault(node, _NodeCounters())
        counters.scrapes += 1
        if regression and regression.scrapeFailures:
            counters.failed += max(1, len(pods)) * 0.5
        lines: list[str] = []
        family_lines: dict[str, list[str]] = {name: [] for name in _HELP}
        family_lines["kata_monitor_running_shim_count"].append(f"kata_monitor_running_shim_count {len(pods)}")
        family_lines["kata_monitor_scrape_count"].append(f"kata_monitor_scrape_count {counters.scrapes}")
        family_lines["kata_monitor_scrape_failed_count"].append(
            f"kata_monitor_scrape_failed_count {round(counters.failed)}"
        )
        for pod in pods:
            self._sandbox_lines(pod, now, factor, family_lines)
        for name, (kind, help_text) in _HELP.items():
            if family_lines[name]:
                lines.append(f"# HELP {name} {help_text}")
                lines.append(f"# TYPE {name} {kind}")
                lines.extend(family_lines[name])
        return "\n".join(lines) + "\n"

    def _sandbox_lines(self, pod: Obj, now: float, factor: float, out: dict[str, list[str]]) -> None:
        meta = pod["metadata"]
        uid = meta["uid"]
        sandbox = self._sandboxes.get(uid)
        if sandbox is None:
            sandbox = self._sandboxes[uid] = _Sandbox(hashlib.sha256(uid.encode()).hexdigest(), now)
        dt = (now - sandbox.last) * self.world.time_scale
        sandbox.last = now
        labels = f'cri_name="{meta["name"]}",cri_namespace="{meta["namespace"]}",cri_uid="{uid}",sandbox_id="{sandbox.sandbox_id}"'
        for (family, action), (rate, mean) in RPCS.items():
            hist = sandbox.histograms.setdefault((family, action), _Histogram())
            hist.observe(rate * dt, mean * factor)
            rows = out[family]
            for le, value in zip(BUCKETS_MS, hist.buckets, strict=True):
                rows.append(f'{family}_bucket{{action="{action}",{labels},le="{le:g}"}} {round(value)}')
            rows.append(f'{family}_bucket{{action="{action}",{labels},le="+Inf"}} {round(hist.count)}')
            rows.append(f'{family}_sum{{action="{action}",{labels}}} {hist.total:.3f}')
            rows.append(f'{family}_count{{action="{action}",{labels}}} {round(hist.count)}')
        seed = int(sandbox.sandbox_id[:8], 16)
        vcpus = 2
        out["kata_shim_fds"].append(f"kata_shim_fds{{{labels}}} {30 + seed % 20}")
        out["kata_shim_threads"].append(f"kata_shim_threads{{{labels}}} {18 + seed % 6}")
        out["kata_shim_pod_overhead_cpu"].append(f"kata_shim_pod_overhead_cpu{{{labels}}} {1 + seed % 5}")
        out["kata_shim_pod_overhead_memory_in_bytes"].append(
            f"kata_shim_pod_overhead_memory_in_bytes{{{labels}}} {(180 + seed % 60) * 1024**2}"
        )
        out["kata_hypervisor_fds"].append(f"kata_hypervisor_fds{{{labels}}} {90 + seed % 30}")
        out["kata_hypervisor_threads"].append(f"kata_hypervisor_threads{{{labels}}} {vcpus + 8 + seed % 4}")
        for item, value in (("vmrss", 310 * 1024**2 + seed % 4096 * 1024), ("vmsize", 2600 * 1024**2)):
            out["kata_hypervisor_proc_status"].append(f'kata_hypervisor_proc_status{{item="{item}",{labels}}} {value}')
        out["kata_agent_total_rss"].append(f"kata_agent_total_rss{{{labels}}} {(22 + seed % 8) * 1024**2}")
        for item, value in (("load1", 0.4 + seed % 10 / 10), ("load5", 0.35), ("load15", 0.3)):
            out["kata_guest_load"].append(f'kata_guest_load{{item="{item}",{labels}}} {value:g}')
        for item, value in (("cur", 60 + seed % 40), ("max", 4096)):
            out["kata_guest_tasks"].append(f'kata_guest_tasks{{item="{item}",{labels}}} {value}')
        free = GUEST_MEMORY * (0.25 + (seed % 50) / 100)
        for item, value in (("mem_total", GUEST_MEMORY), ("mem_free", free), ("mem_available", free * 1.2)):
            out["kata_guest_meminfo"].append(f'kata_guest_meminfo{{item="{item}",{labels}}} {value:.0f}')


def _is_sandbox(pod: Obj) -> bool:
    rc = pod["spec"].get("runtimeClassName") or ""
    return (
        rc.startswith("kata-")
        and pod.get("status", {}).get("phase") == "Running"
        and not pod["metadata"].get("deletionTimestamp")
    )
