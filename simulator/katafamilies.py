"""The metric families a real kata-monitor serves: names, types, label names and ``item`` values.

Facts read from upstream Kata Containers (names and values, not code):

- ``src/runtime/pkg/kata-monitor/metrics.go``: ``kata_monitor_*``; its own Go client's ``go_*`` and
  ``process_*`` renamed ``kata_monitor_go_*`` and ``kata_monitor_process_*``; every sandbox series
  gets ``sandbox_id``, ``cri_uid``, ``cri_name`` and ``cri_namespace`` appended, and the shim's
  ``go_*`` and ``process_*`` become ``kata_shim_go_*`` and ``kata_shim_process_*``.
- ``src/runtime/pkg/containerd-shim-v2/shim_metrics.go``: ``kata_shim_*``;
  ``shim_management.go``: the agent's ``process_*`` become ``kata_agent_process_*``.
- ``src/runtime/virtcontainers/sandbox_metrics.go``: ``kata_hypervisor_*`` and
  ``kata_shim_agent_rpc_durations_histogram_milliseconds``; ``src/runtime/pkg/utils/metrics.go``:
  the Go side's ``item`` values (``/proc/<pid>/status``, ``io``, ``stat``, ``net/dev``).
- ``src/agent/src/metrics.rs``: ``kata_agent_*`` and ``kata_guest_*`` and their ``item`` values.
- ``docs/design/kata-2-0-metrics.md``: the Go and process collectors' families, the RPC
  ``action`` values and ``kata_shim_netdev`` (which the upstream dashboard still charts).
"""

from __future__ import annotations

from dataclasses import dataclass

SANDBOX_LABELS = ("sandbox_id", "cri_uid", "cri_name", "cri_namespace")
"""Appended by kata-monitor, in this order, after a sandbox series' own labels."""


@dataclass(frozen=True)
class Family:
    name: str
    kind: str  # counter, gauge, histogram or summary
    help: str
    labels: tuple[str, ...] = ()  # its own label names (before the sandbox labels; ``le``/``quantile`` not included)


# -- item values ----------------------------------------------------------------------------

GO_PROC_STATUS = (
    "vmpeak", "vmsize", "vmlck", "vmpin", "vmhwm", "vmrss", "rssanon", "rssfile", "rssshmem", "vmdata",
    "vmstk", "vmexe", "vmlib", "vmpte", "vmpmd", "vmswap", "hugetlbpages", "voluntary_ctxt_switches",
    "nonvoluntary_ctxt_switches",
)  # fmt: skip
AGENT_PROC_STATUS = tuple(i for i in GO_PROC_STATUS if i != "vmpmd")
GO_IO_STAT = ("rchar", "wchar", "syscr", "syscw", "readbytes", "writebytes", "cancelledwritebytes")
AGENT_IO_STAT = ("rchar", "wchar", "syscr", "syscw", "read_bytes", "write_bytes", "cancelled_write_bytes")
PROC_STAT = ("utime", "stime", "cutime", "cstime")
NETDEV = (
    "recv_bytes", "recv_packets", "recv_errs", "recv_drop", "recv_fifo", "recv_frame", "recv_compressed",
    "recv_multicast", "sent_bytes", "sent_packets", "sent_errs", "sent_drop", "sent_fifo", "sent_colls",
    "sent_carrier", "sent_compressed",
)  # fmt: skip
CPU_TIME = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice")
DISKSTAT = (
    "reads", "merged", "sectors_read", "time_reading", "writes", "writes_merged", "sectors_written",
    "time_writing", "in_progress", "time_in_progress", "weighted_time_in_progress", "discards",
    "discards_merged", "sectors_discarded", "time_discarding", "flushes", "time_flushing",
)  # fmt: skip
MEMINFO = (
    "mem_total", "mem_free", "mem_available", "buffers", "cached", "swap_cached", "active", "inactive",
    "active_anon", "inactive_anon", "active_file", "inactive_file", "unevictable", "mlocked", "high_total",
    "high_free", "low_total", "low_free", "mmap_copy", "swap_total", "swap_free", "dirty", "writeback",
    "anon_pages", "mapped", "shmem", "slab", "s_reclaimable", "s_unreclaim", "kernel_stack", "page_tables",
    "quicklists", "nfs_unstable", "bounce", "writeback_tmp", "commit_limit", "committed_as", "vmalloc_total",
    "vmalloc_used", "vmalloc_chunk", "hardware_corrupted", "anon_hugepages", "shmem_hugepages",
    "shmem_pmd_mapped", "cma_total", "cma_free", "hugepages_total", "hugepages_free", "hugepages_rsvd",
    "hugepages_surp", "hugepagesize", "direct_map_4k", "direct_map_4M", "direct_map_2M", "direct_map_1G",
    "hugetlb", "per_cpu", "k_reclaimable",
)  # fmt: skip
VM_STAT = (
    "nr_free_pages", "nr_zone_inactive_anon", "nr_zone_active_anon", "nr_zone_inactive_file",
    "nr_zone_active_file", "nr_zone_unevictable", "nr_mlock", "nr_page_table_pages", "nr_kernel_stack",
    "nr_anon_pages", "nr_mapped", "nr_file_pages", "nr_dirty", "nr_writeback", "nr_shmem",
    "nr_slab_reclaimable", "nr_slab_unreclaimable", "pgpgin", "pgpgout", "pswpin", "pswpout", "pgfault",
    "pgmajfault", "pgfree", "workingset_refault", "oom_kill",
)  # fmt: skip
"""A subset of upstream's list: which lines /proc/vmstat has depends on the guest kernel."""
LOAD = ("load1", "load5", "load15")
TASKS = ("cur", "max")
SHIM_ACTIONS = (
    "checkpoint", "close_io", "connect", "create", "delete", "exec", "kill", "pause", "pids", "resize_pty",
    "resume", "shutdown", "start", "state", "stats", "update", "wait",
)  # fmt: skip
AGENT_ACTIONS = tuple(
    f"grpc.{name}Request"
    for name in (
        "Check", "CloseStdin", "CopyFile", "CreateContainer", "CreateSandbox", "DestroySandbox", "ExecProcess",
        "GetMetrics", "GuestDetails", "ListInterfaces", "ListProcesses", "ListRoutes", "MemHotplugByProbe",
        "OnlineCPUMem", "PauseContainer", "RemoveContainer", "ReseedRandomDev", "ResumeContainer",
        "SetGuestDateTime", "SignalProcess", "StartContainer", "StartTracing", "StatsContainer", "StopTracing",
        "TtyWinResize", "UpdateContainer", "UpdateInterface", "UpdateRoutes", "WaitProcess", "WriteStream",
    )
)  # fmt: skip

# -- the Go and process collectors (prometheus/client_golang), as renamed by kata-monitor -------

GO_COLLECTOR: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("go_gc_duration_seconds", "summary", "A summary of the pause duration of garbage collection cycles.", ()),
    ("go_goroutines", "gauge", "Number of goroutines that currently exist.", ()),
    ("go_info", "gauge", "Information about the Go environment.", ("version",)),
    ("go_memstats_alloc_bytes", "gauge", "Number of bytes allocated and still in use.", ()),
    ("go_memstats_alloc_bytes_total", "counter", "Total number of bytes allocated, even if freed.", ()),
    ("go_memstats_buck_hash_sys_bytes", "gauge", "Number of bytes used by the profiling bucket hash table.", ()),
    ("go_memstats_frees_total", "counter", "Total number of frees.", ()),
    ("go_memstats_gc_cpu_fraction", "gauge", "The fraction of this program's available CPU time used by the GC since the program started.", ()),
    ("go_memstats_gc_sys_bytes", "gauge", "Number of bytes used for garbage collection system metadata.", ()),
    ("go_memstats_heap_alloc_bytes", "gauge", "Number of heap bytes allocated and still in use.", ()),
    ("go_memstats_heap_idle_bytes", "gauge", "Number of heap bytes waiting to be used.", ()),
    ("go_memstats_heap_inuse_bytes", "gauge", "Number of heap bytes that are in use.", ()),
    ("go_memstats_heap_objects", "gauge", "Number of allocated objects.", ()),
    ("go_memstats_heap_released_bytes", "gauge", "Number of heap bytes released to OS.", ()),
    ("go_memstats_heap_sys_bytes", "gauge", "Number of heap bytes obtained from system.", ()),
    ("go_memstats_last_gc_time_seconds", "gauge", "Number of seconds since 1970 of last garbage collection.", ()),
    ("go_memstats_lookups_total", "counter", "Total number of pointer lookups.", ()),
    ("go_memstats_mallocs_total", "counter", "Total number of mallocs.", ()),
    ("go_memstats_mcache_inuse_bytes", "gauge", "Number of bytes in use by mcache structures.", ()),
    ("go_memstats_mcache_sys_bytes", "gauge", "Number of bytes used for mcache structures obtained from system.", ()),
    ("go_memstats_mspan_inuse_bytes", "gauge", "Number of bytes in use by mspan structures.", ()),
    ("go_memstats_mspan_sys_bytes", "gauge", "Number of bytes used for mspan structures obtained from system.", ()),
    ("go_memstats_next_gc_bytes", "gauge", "Number of heap bytes when next garbage collection will take place.", ()),
    ("go_memstats_other_sys_bytes", "gauge", "Number of bytes used for other system allocations.", ()),
    ("go_memstats_stack_inuse_bytes", "gauge", "Number of bytes in use by the stack allocator.", ()),
    ("go_memstats_stack_sys_bytes", "gauge", "Number of bytes obtained from system for stack allocator.", ()),
    ("go_memstats_sys_bytes", "gauge", "Number of bytes obtained from system.", ()),
    ("go_threads", "gauge", "Number of OS threads created.", ()),
)  # fmt: skip
PROCESS_COLLECTOR: tuple[tuple[str, str, str], ...] = (
    ("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds."),
    ("process_max_fds", "gauge", "Maximum number of open file descriptors."),
    ("process_open_fds", "gauge", "Number of open file descriptors."),
    ("process_resident_memory_bytes", "gauge", "Resident memory size in bytes."),
    ("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds."),
    ("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes."),
    ("process_virtual_memory_max_bytes", "gauge", "Maximum amount of virtual memory available in bytes."),
)
AGENT_PROCESS_COLLECTOR = tuple(p for p in PROCESS_COLLECTOR if p[0] != "process_virtual_memory_max_bytes")
"""The Rust client's process collector has no virtual_memory_max_bytes."""


def _collectors(
    prefix: str, *, go: bool = True, process: tuple[tuple[str, str, str], ...] = PROCESS_COLLECTOR
) -> list[Family]:
    out = [Family(f"{prefix}_{n}", k, h, labels) for n, k, h, labels in GO_COLLECTOR] if go else []
    return out + [Family(f"{prefix}_{n}", k, h) for n, k, h in process]


MONITOR_FAMILIES: tuple[Family, ...] = (
    *_collectors("kata_monitor"),
    Family("kata_monitor_running_shim_count", "gauge", "Running shim count(running sandboxes)."),
    Family("kata_monitor_scrape_count", "counter", "Scape count."),
    Family("kata_monitor_scrape_durations_histogram_milliseconds", "histogram", "Time used to scrape from shims"),
    Family("kata_monitor_scrape_failed_count", "counter", "Failed scape count."),
)
"""kata-monitor's own families: one series set per node, without sandbox labels."""

SANDBOX_FAMILIES: tuple[Family, ...] = (
    # the agent (src/agent/src/metrics.rs) and its process collector (renamed by the shim)
    Family("kata_agent_io_stat", "gauge", "Agent process IO statistics.", ("item",)),
    Family("kata_agent_proc_stat", "gauge", "Agent process statistics.", ("item",)),
    Family("kata_agent_proc_status", "gauge", "Agent process status.", ("item",)),
    *_collectors("kata_agent", go=False, process=AGENT_PROCESS_COLLECTOR),
    Family("kata_agent_scrape_count", "counter", "Metrics scrape count"),
    Family("kata_agent_threads", "gauge", "Agent process threads"),
    Family("kata_agent_total_rss", "gauge", "Agent process total RSS size"),
    Family("kata_agent_total_time", "gauge", "Agent process total time"),
    Family("kata_agent_total_vm", "gauge", "Agent process total VM size"),
    # the guest (src/agent/src/metrics.rs)
    Family("kata_guest_cpu_time", "gauge", "Guest CPU statistics.", ("cpu", "item")),
    Family("kata_guest_diskstat", "gauge", "Disks statistics in system.", ("disk", "item")),
    Family("kata_guest_load", "gauge", "Guest system load.", ("item",)),
    Family("kata_guest_meminfo", "gauge", "Statistics about memory usage in the system.", ("item",)),
    Family("kata_guest_netdev_stat", "gauge", "Guest net devices statistics.", ("interface", "item")),
    Family("kata_guest_tasks", "gauge", "Guest system load.", ("item",)),
    Family("kata_guest_vm_stat", "gauge", "Guest virtual memory statistics.", ("item",)),
    # the hypervisor (src/runtime/virtcontainers/sandbox_metrics.go)
    Family("kata_hypervisor_fds", "gauge", "Open FDs for hypervisor."),
    Family("kata_hypervisor_io_stat", "gauge", "Process IO statistics.", ("item",)),
    Family("kata_hypervisor_netdev", "gauge", "Net devices statistics.", ("interface", "item")),
    Family("kata_hypervisor_proc_stat", "gauge", "Hypervisor process statistics.", ("item",)),
    Family("kata_hypervisor_proc_status", "gauge", "Hypervisor process status.", ("item",)),
    Family("kata_hypervisor_threads", "gauge", "Hypervisor process threads."),
    # the shim (shim_metrics.go, sandbox_metrics.go) and its Go and process collectors
    Family("kata_shim_agent_rpc_durations_histogram_milliseconds", "histogram", "RPC latency distributions.", ("action",)),
    Family("kata_shim_fds", "gauge", "Kata containerd shim v2 open FDs."),
    *_collectors("kata_shim"),
    Family("kata_shim_io_stat", "gauge", "Kata containerd shim v2 process IO statistics.", ("item",)),
    Family("kata_shim_netdev", "gauge", "Kata containerd shim v2 network devices statistics.", ("interface", "item")),
    Family("kata_shim_pod_overhead_cpu", "gauge", "Kata Pod overhead for CPU resources(percent)."),
    Family("kata_shim_pod_overhead_memory_in_bytes", "gauge", "Kata Pod overhead for memory resources(bytes)."),
    Family("kata_shim_proc_stat", "gauge", "Kata containerd shim v2 process statistics.", ("item",)),
    Family("kata_shim_proc_status", "gauge", "Kata containerd shim v2 process status.", ("item",)),
    Family("kata_shim_rpc_durations_histogram_milliseconds", "histogram", "RPC latency distributions.", ("action",)),
    Family("kata_shim_threads", "gauge", "Kata containerd shim v2 process threads."),
)  # fmt: skip
"""The families of every sandbox, each series labelled with ``SANDBOX_LABELS`` after its own."""
