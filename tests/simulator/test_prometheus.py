"""A real Prometheus scrapes the simulator's kata-monitor on every node."""

from __future__ import annotations

import urllib.request

import pytest

from simulator.server import Simulator
from tests.support.prometheus import instant
from tests.support.sim import wait_for

pytestmark = pytest.mark.prometheus


def test_every_node_with_kata_monitor_is_up(sim_small: Simulator, prometheus_small: str) -> None:
    nodes = set(sim_small.world.nodes)
    up = wait_for(
        lambda: (r := instant(prometheus_small, 'up{job="kata-monitor"}')) and len(r) == len(nodes) and r,
        what="every target scraped",
    )
    assert {s["metric"]["node"] for s in up} == nodes
    assert all(s["value"][1] == "1" for s in up)
    assert all(s["metric"]["instance"] == f"{s['metric']['node']}:8090" for s in up)


def test_running_shim_count_has_one_series_per_node_and_matches_the_sandboxes(
    sim_small: Simulator, prometheus_small: str
) -> None:
    series = wait_for(
        lambda: (
            (r := instant(prometheus_small, "kata_monitor_running_shim_count"))
            and len(r) == len(sim_small.world.nodes)
            and r
        ),
        what="kata_monitor_running_shim_count for every node",
    )
    assert len({s["metric"]["node"] for s in series}) == len(series)
    assert sum(float(s["value"][1]) for s in series) > 0


def test_shim_rpc_histogram_answers_the_p99_query(sim_small: Simulator, prometheus_small: str) -> None:
    query = 'histogram_quantile(0.99, sum by (node, le) (rate(kata_shim_rpc_durations_histogram_milliseconds_bucket{action="create"}[30s])))'

    def p99s() -> list[float]:
        return [float(s["value"][1]) for s in instant(prometheus_small, query) if s["value"][1] != "NaN"]

    values = wait_for(lambda: len(p99s()) >= 3 and p99s(), what="p99 latencies for several nodes")
    assert all(50 < v < 1000 for v in values)  # mean 60 ms: p99 about 275 ms when healthy


def test_exposition_uses_kata_monitors_names_and_labels(sim_small: Simulator) -> None:
    node = next(n for n in sim_small.world.nodes if sim_small.world.pods_on(n))
    with urllib.request.urlopen(f"{sim_small.metrics_url}/kata-monitor/{node}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    for family in ("kata_monitor_running_shim_count", "kata_monitor_scrape_count", "kata_monitor_scrape_failed_count",
                   "kata_shim_rpc_durations_histogram_milliseconds_bucket", "kata_shim_agent_rpc_durations_histogram_milliseconds_count",
                   "kata_hypervisor_threads", "kata_hypervisor_fds", "kata_guest_load", "kata_guest_meminfo", "kata_shim_fds"):  # fmt: skip
        assert f"\n{family}" in text, family
    assert 'cri_namespace="' in text and 'sandbox_id="' in text and 'item="mem_available"' in text
    assert "# TYPE kata_shim_rpc_durations_histogram_milliseconds histogram" in text
