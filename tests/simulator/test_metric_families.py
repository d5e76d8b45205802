"""The simulator's kata-monitor serves upstream Kata's metric families (names, types, label names,
``item`` and ``action`` values), and every query of upstream's Grafana dashboard returns data from a
real Prometheus scraping it.

The expectations below are our own list, written from upstream kata-containers/kata-containers:
- ``src/runtime/pkg/kata-monitor/metrics.go`` @ d8263656cc1524a8757eab60b9e2a7a9020828de
- ``src/runtime/pkg/containerd-shim-v2/shim_metrics.go`` @ bb5e33b33afb22c63b217e8d0797cd283b9296ca
- ``src/runtime/pkg/containerd-shim-v2/shim_management.go`` @ 05e07e66a2b7d9f5d6f7445f73b85acfc2014403
- ``src/runtime/virtcontainers/sandbox_metrics.go`` @ 01b2bbc1c8d38f67e127949b2187945a4c88387a
- ``src/runtime/pkg/utils/metrics.go`` @ 136210387311df451e11ca6d88cf5a2e0d3ae610
- ``src/agent/src/metrics.rs`` @ 083facd5aefac48676c7fc130d5303f497cc5c9a
- ``docs/design/kata-2-0-metrics.md`` @ 22818da1bc5acfaa93536dc240d37b6f30c163e0 (the Go and process
  collectors' families, the RPC actions, ``kata_shim_netdev``)
- ``docs/how-to/data/dashboard.json`` @ 5c0269881e32aa2a990bb0e1b4bf4658dfbcd0a9 (the queries)
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from simulator.fleet import make_fleet
from simulator.metrics import LEAN, KataMonitor, _is_sandbox
from simulator.populate import populate
from simulator.server import Simulator
from simulator.world import World
from tests.support.prometheus import instant
from tests.support.sim import wait_for

SANDBOX = ("sandbox_id", "cri_uid", "cri_name", "cri_namespace")  # appended by kata-monitor, in this order

_GO = {
    "go_gc_duration_seconds": "summary", "go_goroutines": "gauge", "go_info": "gauge", "go_threads": "gauge",
    **{f"go_memstats_{n}": "gauge" for n in (
        "alloc_bytes", "buck_hash_sys_bytes", "gc_cpu_fraction", "gc_sys_bytes", "heap_alloc_bytes", "heap_idle_bytes",
        "heap_inuse_bytes", "heap_objects", "heap_released_bytes", "heap_sys_bytes", "last_gc_time_seconds",
        "mcache_inuse_bytes", "mcache_sys_bytes", "mspan_inuse_bytes", "mspan_sys_bytes", "next_gc_bytes",
        "other_sys_bytes", "stack_inuse_bytes", "stack_sys_bytes", "sys_bytes")},
    **{f"go_memstats_{n}": "counter" for n in ("alloc_bytes_total", "frees_total", "lookups_total", "mallocs_total")},
}  # fmt: skip
_PROCESS = {
    "process_cpu_seconds_total": "counter", "process_max_fds": "gauge", "process_open_fds": "gauge",
    "process_resident_memory_bytes": "gauge", "process_start_time_seconds": "gauge",
    "process_virtual_memory_bytes": "gauge", "process_virtual_memory_max_bytes": "gauge",
}  # fmt: skip
ITEM, NET, CPU, DISK, ACTION = ("item",), ("interface", "item"), ("cpu", "item"), ("disk", "item"), ("action",)

# family -> (type, its own label names; a kata_monitor_* family has no sandbox labels, every other one has them after)
UPSTREAM: dict[str, tuple[str, tuple[str, ...]]] = {
    **{f"kata_monitor_{n}": (t, ("version",) if n == "go_info" else ()) for n, t in (_GO | _PROCESS).items()},
    "kata_monitor_running_shim_count": ("gauge", ()),
    "kata_monitor_scrape_count": ("counter", ()),
    "kata_monitor_scrape_failed_count": ("counter", ()),
    "kata_monitor_scrape_durations_histogram_milliseconds": ("histogram", ()),
    **{f"kata_shim_{n}": (t, ("version",) if n == "go_info" else ()) for n, t in (_GO | _PROCESS).items()},
    "kata_shim_rpc_durations_histogram_milliseconds": ("histogram", ACTION),
    "kata_shim_agent_rpc_durations_histogram_milliseconds": ("histogram", ACTION),
    "kata_shim_threads": ("gauge", ()),
    "kata_shim_fds": ("gauge", ()),
    "kata_shim_proc_status": ("gauge", ITEM),
    "kata_shim_proc_stat": ("gauge", ITEM),
    "kata_shim_io_stat": ("gauge", ITEM),
    "kata_shim_netdev": ("gauge", NET),
    "kata_shim_pod_overhead_cpu": ("gauge", ()),
    "kata_shim_pod_overhead_memory_in_bytes": ("gauge", ()),
    "kata_hypervisor_threads": ("gauge", ()),
    "kata_hypervisor_fds": ("gauge", ()),
    "kata_hypervisor_proc_status": ("gauge", ITEM),
    "kata_hypervisor_proc_stat": ("gauge", ITEM),
    "kata_hypervisor_io_stat": ("gauge", ITEM),
    "kata_hypervisor_netdev": ("gauge", NET),
    "kata_agent_scrape_count": ("counter", ()),
    **{f"kata_agent_{n}": ("gauge", ()) for n in ("threads", "total_time", "total_vm", "total_rss")},
    **{f"kata_agent_{n}": ("gauge", ITEM) for n in ("proc_status", "io_stat", "proc_stat")},
    **{f"kata_agent_{n}": (t, ()) for n, t in _PROCESS.items() if n != "process_virtual_memory_max_bytes"},
    "kata_guest_load": ("gauge", ITEM),
    "kata_guest_tasks": ("gauge", ITEM),
    "kata_guest_cpu_time": ("gauge", CPU),
    "kata_guest_vm_stat": ("gauge", ITEM),
    "kata_guest_netdev_stat": ("gauge", NET),
    "kata_guest_diskstat": ("gauge", DISK),
    "kata_guest_meminfo": ("gauge", ITEM),
}

_GO_STATUS = {"vmpeak", "vmsize", "vmlck", "vmpin", "vmhwm", "vmrss", "rssanon", "rssfile", "rssshmem", "vmdata", "vmstk",
              "vmexe", "vmlib", "vmpte", "vmpmd", "vmswap", "hugetlbpages", "voluntary_ctxt_switches",
              "nonvoluntary_ctxt_switches"}  # fmt: skip
_GO_IO = {"rchar", "wchar", "syscr", "syscw", "readbytes", "writebytes", "cancelledwritebytes"}
_NETDEV = {f"{d}_{i}" for d in ("recv", "sent") for i in ("bytes", "packets", "errs", "drop", "fifo", "compressed")} | {
    "recv_frame", "recv_multicast", "sent_colls", "sent_carrier"}  # fmt: skip
_PROC_STAT = {"utime", "stime", "cutime", "cstime"}
# family -> label -> every value upstream gives it (all of them, unless the family is in PARTIAL)
VALUES: dict[str, dict[str, set[str]]] = {
    "kata_shim_proc_status": {"item": _GO_STATUS},
    "kata_hypervisor_proc_status": {"item": _GO_STATUS},
    "kata_agent_proc_status": {"item": _GO_STATUS - {"vmpmd"}},
    "kata_shim_io_stat": {"item": _GO_IO},
    "kata_hypervisor_io_stat": {"item": _GO_IO},
    "kata_agent_io_stat": {"item": {"rchar", "wchar", "syscr", "syscw", "read_bytes", "write_bytes", "cancelled_write_bytes"}},
    "kata_shim_proc_stat": {"item": _PROC_STAT},
    "kata_hypervisor_proc_stat": {"item": _PROC_STAT},
    "kata_agent_proc_stat": {"item": _PROC_STAT},
    "kata_shim_netdev": {"item": _NETDEV},
    "kata_hypervisor_netdev": {"item": _NETDEV},
    "kata_guest_netdev_stat": {"item": _NETDEV},
    "kata_guest_load": {"item": {"load1", "load5", "load15"}},
    "kata_guest_tasks": {"item": {"cur", "max"}},
    "kata_guest_cpu_time": {"item": {"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest",
                                     "guest_nice"}},
    "kata_guest_diskstat": {"item": {
        "reads", "merged", "sectors_read", "time_reading", "writes", "writes_merged", "sectors_written", "time_writing",
        "in_progress", "time_in_progress", "weighted_time_in_progress", "discards", "discards_merged",
        "sectors_discarded", "time_discarding", "flushes", "time_flushing"}},
    "kata_guest_meminfo": {"item": {
        "mem_total", "mem_free", "mem_available", "buffers", "cached", "swap_cached", "active", "inactive", "active_anon",
        "inactive_anon", "active_file", "inactive_file", "unevictable", "mlocked", "high_total", "high_free",
        "low_total", "low_free", "mmap_copy", "swap_total", "swap_free", "dirty", "writeback", "anon_pages", "mapped",
        "shmem", "slab", "s_reclaimable", "s_unreclaim", "kernel_stack", "page_tables", "quicklists", "nfs_unstable",
        "bounce", "writeback_tmp", "commit_limit", "committed_as", "vmalloc_total", "vmalloc_used", "vmalloc_chunk",
        "hardware_corrupted", "anon_hugepages", "shmem_hugepages", "shmem_pmd_mapped", "cma_total", "cma_free",
        "hugepages_total", "hugepages_free", "hugepages_rsvd", "hugepages_surp", "hugepagesize", "direct_map_4k",
        "direct_map_4M", "direct_map_2M", "direct_map_1G", "hugetlb", "per_cpu", "k_reclaimable"}},
    "kata_guest_vm_stat": {"item": {
        "nr_free_pages", "nr_zone_inactive_anon", "nr_zone_active_anon", "nr_zone_inactive_file", "nr_zone_active_file",
        "nr_zone_unevictable", "nr_mlock", "nr_page_table_pages", "nr_kernel_stack", "nr_anon_pages", "nr_mapped",
        "nr_file_pages", "nr_dirty", "nr_writeback", "nr_shmem", "nr_slab_reclaimable", "nr_slab_unreclaimable",
        "pgpgin", "pgpgout", "pswpin", "pswpout", "pgfault", "pgmajfault", "pgfree", "workingset_refault", "oom_kill",
        "nr_active_anon", "nr_active_file", "nr_inactive_anon", "nr_inactive_file", "nr_unevictable"}},
    "kata_shim_rpc_durations_histogram_milliseconds": {"action": {
        "checkpoint", "close_io", "connect", "create", "delete", "exec", "kill", "pause", "pids", "resize_pty", "resume",
        "shutdown", "start", "state", "stats", "update", "wait"}},
    "kata_shim_agent_rpc_durations_histogram_milliseconds": {"action": {f"grpc.{n}Request" for n in (
        "Check", "CloseStdin", "CopyFile", "CreateContainer", "CreateSandbox", "DestroySandbox", "ExecProcess",
        "GetMetrics", "GuestDetails", "ListInterfaces", "ListProcesses", "ListRoutes", "MemHotplugByProbe",
        "OnlineCPUMem", "PauseContainer", "RemoveContainer", "ReseedRandomDev", "ResumeContainer", "SetGuestDateTime",
        "SignalProcess", "StartContainer", "StartTracing", "StatsContainer", "StopTracing", "TtyWinResize",
        "UpdateContainer", "UpdateInterface", "UpdateRoutes", "WaitProcess", "WriteStream")}},
}  # fmt: skip
PARTIAL = {  # families whose values depend on what happened (RPCs made) or on the guest kernel (/proc/vmstat)
    "kata_guest_vm_stat",
    "kata_shim_rpc_durations_histogram_milliseconds",
    "kata_shim_agent_rpc_durations_histogram_milliseconds",
}

# Every target expr of upstream's dashboard, docs/how-to/data/dashboard.json @ 5c0269881e32aa2a990bb0e1b4bf4658dfbcd0a9
# (kata-containers/kata-containers), in panel order. It has no template variables (its templating list is empty),
# so there is nothing to substitute.
DASHBOARD_QUERIES = [
    "rate(kata_monitor_scrape_count[5m])*60",
    "kata_monitor_scrape_failed_count",
    "kata_monitor_running_shim_count",
    "histogram_quantile(0.99, sum(rate(kata_monitor_scrape_durations_histogram_milliseconds_bucket[5m])) by (action,le))",
    "rate(kata_monitor_scrape_durations_histogram_milliseconds_sum[5m])/rate(kata_monitor_scrape_durations_histogram_milliseconds_count[5m])",
    "kata_monitor_go_goroutines",
    "kata_monitor_go_threads",
    "kata_monitor_process_open_fds",
    "kata_monitor_process_resident_memory_bytes",
    "rate(kata_monitor_go_gc_duration_seconds_sum[5m])/rate(kata_monitor_go_gc_duration_seconds_count[5m])",
    "histogram_quantile(0.99, sum(rate(kata_shim_rpc_durations_histogram_milliseconds_bucket[5m])) by (action,le))",
    "histogram_quantile(0.99, sum(rate(kata_shim_agent_rpc_durations_histogram_milliseconds_bucket [5m])) by (action,le))",
    "histogram_quantile(0.95, sum(rate(kata_shim_agent_rpc_durations_histogram_milliseconds_bucket [5m])) by (action,le))",
    "histogram_quantile(0.90, sum(rate(kata_shim_agent_rpc_durations_histogram_milliseconds_bucket [5m])) by (action,le))",
    'histogram_quantile(0.99, sum(rate(kata_shim_agent_rpc_durations_histogram_milliseconds_bucket{action=~"grpc.GetMetricsRequest|grpc.CreateContainerRequest|grpc.CreateContainerRequest"} [5m])) by (action,le))',
    'histogram_quantile(0.99, sum(rate(kata_shim_agent_rpc_durations_histogram_milliseconds_bucket{action="grpc.GetMetricsRequest"} [5m])) by (action,le))',
    'histogram_quantile(0.95, sum(rate(kata_shim_agent_rpc_durations_histogram_milliseconds_bucket{action="grpc.GetMetricsRequest"} [5m])) by (action,le))',
    'histogram_quantile(0.90, sum(rate(kata_shim_agent_rpc_durations_histogram_milliseconds_bucket{action="grpc.GetMetricsRequest"} [5m])) by (action,le))',
    'rate(kata_shim_agent_rpc_durations_histogram_milliseconds_sum{action="grpc.GetMetricsRequest"}[5m])/rate(kata_shim_agent_rpc_durations_histogram_milliseconds_count{action="grpc.GetMetricsRequest"}[5m])',
    "kata_shim_netdev",
    "kata_shim_go_goroutines",
    'kata_shim_proc_status{item="vmrss"}',
    'irate(kata_shim_io_stat{item="rchar"}[5m])',
    'irate(kata_shim_io_stat{item="wchar"}[5m])',
    "kata_shim_fds",
    "kata_shim_proc_status",
    "rate(kata_shim_go_gc_duration_seconds_sum[5m])/rate(kata_shim_go_gc_duration_seconds_count[5m])",
    "kata_agent_process_open_fds",
    "kata_agent_process_resident_memory_bytes",
    "kata_agent_proc_status",
    "kata_agent_proc_stat",
    "kata_hypervisor_fds",
    'kata_hypervisor_proc_status{item="vmrss"}',
    'kata_hypervisor_io_stat{item="wchar"}',
    'kata_hypervisor_io_stat{item="rchar"}',
    "kata_hypervisor_netdev",
    "kata_hypervisor_proc_stat",
    "kata_guest_load",
    'kata_guest_meminfo{item="mem_total"}',
    'kata_guest_meminfo{item="mem_free"}',
    'kata_guest_meminfo{item="mem_available"}',
    'kata_guest_netdev_stat{item="sent_bytes"}',
    'kata_guest_netdev_stat{item="recv_bytes"}',
    'kata_guest_netdev_stat{item="sent_errs"}',
    'kata_guest_netdev_stat{item="recv_errs"}',
    'kata_guest_netdev_stat{item="sent_drop"}',
    'kata_guest_netdev_stat{item="recv_drop"}',
    "kata_guest_tasks",
]


def _exposition(*, lean: bool = False) -> str:
    """One node's /metrics, rendered in-process (the second scrape, so counters have moved)."""

    async def render() -> str:
        world = World(make_fleet("small", seed=7), time_scale=20)
        populate(world)  # its behaviour needs a running loop; nothing runs before we stop it
        try:
            node = max(world.nodes, key=lambda n: sum(1 for e in world.pods_on(n) if _is_sandbox(e.obj)))
            monitor = KataMonitor(world, lean=lean)
            monitor.render(node)
            return monitor.render(node)
        finally:
            await world.stop()

    return asyncio.run(render())


def test_one_nodes_exposition_has_every_upstream_family_with_its_type_labels_and_values() -> None:
    text = _exposition()
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    assert types == {name: kind for name, (kind, _) in UPSTREAM.items()}
    found: dict[str, dict[str, set[str]]] = {}
    for family in text_string_to_metric_families(text):  # it parses; a counter's name loses (or gains) _total
        name = f"{family.name}_total" if family.type == "counter" and f"{family.name}_total" in types else family.name
        kind, own = UPSTREAM[name]
        assert family.type == kind, name
        want = [*own, *(() if name.startswith("kata_monitor_") else SANDBOX)]
        assert family.samples, name
        for sample in family.samples:
            extra = []
            if (kind, sample.name) in (("histogram", f"{name}_bucket"), ("summary", name)):
                extra = ["le" if kind == "histogram" else "quantile"]
            assert sorted(sample.labels) == sorted([*want, *extra]), (name, sample)
            assert not math.isnan(sample.value), sample
            for label, value in sample.labels.items():
                found.setdefault(name, {}).setdefault(label, set()).add(value)
    for name, labels in VALUES.items():
        for label, upstream in labels.items():
            assert found[name][label] <= upstream, (name, label, found[name][label] - upstream)
            if name not in PARTIAL:
                assert found[name][label] == upstream, (name, label, upstream - found[name][label])
    # what the product reads is still there, as before
    assert {"create", "state"} <= found["kata_shim_rpc_durations_histogram_milliseconds"]["action"]
    assert {"mem_available", "mem_total"} <= found["kata_guest_meminfo"]["item"]
    assert found["kata_guest_cpu_time"]["cpu"] >= {"total", "0"}
    assert "kata_monitor_running_shim_count 0\n" not in text


@pytest.mark.prometheus
def test_every_upstream_dashboard_query_returns_data(sim_small: Simulator, prometheus_small: str) -> None:
    def empty() -> list[str]:
        return [q for q in DASHBOARD_QUERIES if not [s for s in instant(prometheus_small, q) if s["value"][1] != "NaN"]]

    with contextlib.suppress(AssertionError):  # the safety net fired: say which queries have no data
        wait_for(lambda: not empty(), what="data for every query of upstream's dashboard")
    missing = empty()
    assert not missing, "upstream dashboard queries without data:\n" + "\n".join(missing)


def test_lean_metrics_keep_exactly_what_fleetctl_reads() -> None:
    full, lean = _exposition(), _exposition(lean=True)
    families = set(re.findall(r"^# TYPE (\S+) ", lean, re.M))
    monitor = {f for f in re.findall(r"^# TYPE (\S+) ", full, re.M) if f.startswith("kata_monitor_")}
    assert families == monitor | set(LEAN) and len(lean) * 2 < len(full)
