"""Health checks against the simulator and a real Prometheus."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from clients.kube.client import KubeClient
from clients.kube.config import open_contexts
from clients.prom import PromConfig, PromSource
from collectors.health.collector import check_cluster
from collectors.health.thresholds import Thresholds
from collectors.inventory.collector import RetryPolicy, collect_cluster
from collectors.releases.catalog import kernel_pins
from simulator.server import Simulator
from store.engine import Store
from store.migrate import open_store
from store.models import HealthCheck, HealthTransition, Node
from tests.support.prometheus import instant
from tests.support.sim import admin, wait_for

pytestmark = pytest.mark.prometheus
FAST = Thresholds(rate_window="10s")


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    s = open_store(sqlite_url)
    yield s
    s.close()


def cycle(sim: Simulator, store: Store, prom_url: str | None) -> object:
    kube = KubeClient(open_contexts(sim.kubeconfig)[0])
    assert collect_cluster(kube, store, kernel_pins(store), retry=RetryPolicy(base=0.01)).error is None
    source = PromSource(PromConfig(url=prom_url), FAST.rate_window) if prom_url else None
    return check_cluster(store, "sim", prom=source, kube=kube, thresholds=FAST)


def checks(store: Store, node: str) -> dict[str, HealthCheck]:
    with store.read() as s:
        return {c.code: c for c in s.exec(select(HealthCheck).join(Node).where(Node.name == node))}


def wait_scraped(prom: str, sim: Simulator) -> None:
    wait_for(
        lambda: len(instant(prom, 'up{job="kata-monitor"}')) == len(sim.world.nodes),
        what="every target scraped",
    )


def wait_window(prom: str, node: str, *, since: float) -> None:
    """Wait until Prometheus has scraped ``node`` for a whole rate window after ``since`` (a wall-clock
    time): then every sample in the window is newer than ``since``, however slow the scrapes are."""
    window = float(FAST.rate_window.removesuffix("s"))

    def scraped_after() -> bool:
        found = instant(prom, f'timestamp(up{{job="kata-monitor",node="{node}"}})')
        return bool(found) and float(found[0]["value"][1]) >= since + window

    wait_for(scraped_after, interval=0.5, what=f"a full {FAST.rate_window} rate window of scrapes of {node}")


def test_a_health_regression_is_crit_after_one_rate_window(
    fresh_sim: Simulator, prometheus_fresh: str, store: Store
) -> None:
    node = next(
        n
        for n, t in fresh_sim.world.nodes.items()
        if t.spec.arch == "s390x"
        and fresh_sim.world.pods_on(n)
        and any((p.obj["spec"].get("runtimeClassName") or "").startswith("kata-") for p in fresh_sim.world.pods_on(n))
    )
    release = fresh_sim.world.nodes[node].installed
    wait_scraped(prometheus_fresh, fresh_sim)
    wait_window(prometheus_fresh, node, since=time.time())  # a full rate window of healthy data
    cycle(fresh_sim, store, prometheus_fresh)
    assert checks(store, node)["KATA003"].status == "ok", checks(store, node)["KATA003"].message
    admin(fresh_sim, "/_sim/faults", "PATCH", {"healthRegressions": [{"release": release, "arch": "s390x"}]})
    wait_window(prometheus_fresh, node, since=time.time())  # a full rate window of regressed data
    cycle(fresh_sim, store, prometheus_fresh)
    assert checks(store, node)["KATA003"].status == "crit", checks(store, node)["KATA003"].message
    kata003 = checks(store, node)["KATA003"]
    assert kata003.value and kata003.value >= 1000 and kata003.remediation
    assert checks(store, node)["KATA002"].status in ("warn", "crit")  # scrape failures rising too
    other = next(n for n, t in fresh_sim.world.nodes.items() if t.spec.arch == "amd64" and fresh_sim.world.pods_on(n))
    assert checks(store, other)["KATA003"].status == "ok"
    with store.read() as s:
        edges = s.exec(
            select(HealthTransition).join(Node).where(Node.name == node, HealthTransition.code == "KATA003")
        ).all()
    assert [(e.old_status, e.new_status) for e in edges][-1][1] == "crit"


def test_missing_kata_monitor_is_unknown_and_a_down_one_is_crit(
    fresh_sim: Simulator, prometheus_fresh: str, store: Store
) -> None:
    wait_scraped(prometheus_fresh, fresh_sim)
    admin(
        fresh_sim,
        "/_sim/faults",
        "PATCH",
        {"kataMonitorMissing": ["kata-ppc64le-0000"], "kataMonitorDown": ["kata-ppc64le-0001"]},
    )
    wait_for(
        lambda: (
            {s["metric"]["node"] for s in instant(prometheus_fresh, 'up{job="kata-monitor"}')}
            == set(fresh_sim.world.nodes) - {"kata-ppc64le-0000"}
        ),
        what="the missing target to drop out",
    )
    wait_for(
        lambda: any(
            s["metric"]["node"] == "kata-ppc64le-0001" and s["value"][1] == "0" for s in instant(prometheus_fresh, "up")
        ),
        what="up == 0",
    )
    result = cycle(fresh_sim, store, prometheus_fresh)
    missing, down = checks(store, "kata-ppc64le-0000"), checks(store, "kata-ppc64le-0001")
    assert missing["KATA001"].status == "unknown" and "no kata-monitor target" in missing["KATA001"].message
    assert down["KATA001"].status == "crit" and "up == 0" in down["KATA001"].message
    assert all(missing[c].status == "unknown" for c in ("KATA002", "KATA003", "KATA004", "KATA005"))
    assert result.by_status["unknown"] >= 1 and result.by_status["crit"] >= 1  # type: ignore[attr-defined]


def test_a_failed_query_is_unknown_with_the_reason_never_ok(fresh_sim: Simulator, store: Store) -> None:
    dead = "http://127.0.0.1:1"
    result = cycle(fresh_sim, store, dead)
    got = checks(store, "kata-amd64-0000")
    assert got["KATA003"].status == "unknown" and got["KATA003"].message.startswith("query failed")
    assert got["KATA010"].status == "ok"  # Kubernetes checks still run
    assert result.query_failures  # type: ignore[attr-defined]


class _Count503(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}')

    def log_message(self, *args: object) -> None:
        pass


def test_a_503_is_not_retried() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Count503)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        source = PromSource(PromConfig(url=f"http://127.0.0.1:{server.server_address[1]}", timeout_s=2), "5m")
        answer = source.query("up")
        assert isinstance(answer, str) and "503" in answer
        assert _Count503.hits == 1  # sent once, not four times
    finally:
        server.shutdown()
        server.server_close()


def test_thresholds_come_from_the_config_file(tmp_path: Path) -> None:
    from fleetctl.config import load_config
    from store.errors import ConfigError

    path = tmp_path / "config.toml"
    path.write_text('[prometheus]\nurl = "http://prom:9090"\n\n[health]\nrpc_p99_crit_ms = 2000\nrate_window = "2m"\n')
    cfg = load_config(str(path))
    assert cfg.prometheus["url"] == "http://prom:9090" and cfg.health["rpc_p99_crit_ms"] == 2000
    path.write_text("[health]\nrpc_p99_crit = 2000\n")
    with pytest.raises(ConfigError, match=r"health\.rpc_p99_crit"):
        load_config(str(path))


def test_without_prometheus_vm_health_is_unknown_never_ok(fresh_sim: Simulator, store: Store) -> None:
    result = cycle(fresh_sim, store, None)
    got = checks(store, "kata-amd64-0000")
    vm = [got[c] for c in ("KATA001", "KATA002", "KATA003", "KATA004", "KATA005")]
    assert all(c.status == "unknown" and c.message.startswith("no Prometheus configured") for c in vm)
    assert all("--prometheus" in (c.remediation or "") for c in vm)  # what to do, not "check kata-monitor"
    assert got["KATA010"].status == "ok"  # the Kubernetes checks keep their own results
    assert result.by_status["ok"] == 0 and result.by_status["unknown"] > 0  # type: ignore[attr-defined]
