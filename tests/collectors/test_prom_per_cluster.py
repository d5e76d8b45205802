"""Prometheus per cluster, with real components: two simulated clusters whose nodes have the same
names, each with its own Prometheus, and then one Prometheus scraping both with a ``cluster``
label. Health and gates of one cluster read only that cluster's metrics."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from clients.kube.client import KubeClient
from clients.kube.config import open_contexts
from clients.prom import PromSource
from collectors.inventory.collector import RetryPolicy, collect_cluster
from collectors.releases.catalog import kernel_pins
from fleetctl.services import health_runner
from fleetctl.settings import Settings
from simulator.server import Simulator
from store.engine import Store
from store.migrate import open_store
from store.models import Cluster, HealthCheck, Node
from store.states import GateState
from tests.support.promclusters import NAMES, UP, break_monitors, labelled_targets, monitored, two_clusters, wait_up
from tests.support.prometheus import instant, prometheus_server
from tests.unit.test_promql_matcher import CASES
from upgrades.gates import GateScope, run_gate
from upgrades.planfile import Check, Gates

pytestmark = pytest.mark.prometheus


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    s = open_store(sqlite_url)
    yield s
    s.close()


@pytest.fixture
def sims(tmp_path: Path) -> Iterator[dict[str, Simulator]]:
    with two_clusters(tmp_path) as out:
        yield out


def collect(sims: dict[str, Simulator], store: Store) -> dict[str, KubeClient]:
    clients = {}
    for name, sim in sims.items():
        kube = KubeClient(open_contexts(sim.kubeconfig)[0])
        assert kube.name == name
        assert collect_cluster(kube, store, kernel_pins(store), retry=RetryPolicy(base=0.01)).error is None
        clients[name] = kube
    return clients


def settings_with(prometheus: dict[str, Any], kubeconfig: Path) -> Settings:
    return Settings(
        db=None, kubeconfig=kubeconfig, context=None, output="table", config_path=None, prometheus=prometheus
    )


def kata001(store: Store, cluster: str) -> dict[str, str]:
    with store.read() as s:
        rows = s.exec(
            select(Node.name, HealthCheck.status)
            .join(HealthCheck, HealthCheck.node_id == Node.id)  # type: ignore[arg-type]
            .join(Cluster, Cluster.id == Node.cluster_id)  # type: ignore[arg-type]
            .where(Cluster.name == cluster, HealthCheck.code == "KATA001")
        ).all()
    return dict(rows)


def break_west(sims: dict[str, Simulator]) -> None:
    """Every kata-monitor of ``west`` answers 500 (up == 0); ``east`` stays healthy."""
    break_monitors(sims["west"])


GATE = Gates(
    soak_s=0,
    checks=(
        Check(
            name="kata-monitor-up",
            query='min(up{job="kata-monitor", node=~"{{nodes}}"})',
            success="value >= 1",
            interval_s=0.2,
            count=1,
            consecutive_error_limit=0,
        ),
    ),
)


def gate(settings: Settings, sims: dict[str, Simulator], clusters: tuple[str, ...]) -> tuple[GateState, str]:
    """The gate of a run whose upgraded nodes are every monitored node of ``clusters``, built as the
    executor builds it: one scope per cluster, its source from the one resolution."""
    top = settings.prom_config()
    assert top is not None
    scopes = []
    for name in clusters:
        config = top.for_cluster(name)
        assert config is not None
        nodes = sorted(monitored(sims[name]))
        scopes.append(GateScope(name, PromSource(config, "1m"), nodes, nodes))
    state, message, _results = run_gate(
        GATE, None, nodes=[], wave_nodes=[], target="4.0", should_stop=lambda: False, on_update=lambda _r: None,
        scopes=scopes,
    )  # fmt: skip
    return state, message


def check_isolation(settings: Settings, sims: dict[str, Simulator], store: Store) -> None:
    clients = collect(sims, store)
    run = health_runner(settings, None)
    for name in NAMES:
        run(store, clients[name])
    east, west = kata001(store, "east"), kata001(store, "west")
    targets = monitored(sims["west"])
    assert targets and set(east) == set(west)  # the same node names in both clusters
    assert {n for n, s in west.items() if s == "crit"} == targets, west
    assert not {n for n, s in east.items() if s == "crit"}, east
    assert {n for n, s in east.items() if s == "ok"} == monitored(sims["east"]), east
    assert gate(settings, sims, ("east",))[0] == GateState.PASSED
    state, message = gate(settings, sims, ("west",))
    assert state == GateState.FAILED and "misses successCondition" in message
    state, message = gate(settings, sims, ("east", "west"))  # a run over both: each cluster its own nodes
    assert state == GateState.FAILED and "[1, 0]" in message, message


def test_each_cluster_reads_its_own_prometheus(sims: dict[str, Simulator], store: Store) -> None:
    with ExitStack() as stack:
        urls = {name: stack.enter_context(prometheus_server(sim.targets)) for name, sim in sims.items()}
        for name in NAMES:
            wait_up(urls[name], UP, monitored(sims[name]), "1")
        break_west(sims)
        wait_up(urls["west"], UP, monitored(sims["west"]), "0")
        wait_up(urls["east"], UP, monitored(sims["east"]), "1")
        settings = settings_with(
            {"contexts": {name: {"url": url} for name, url in urls.items()}}, sims["east"].kubeconfig
        )
        check_isolation(settings, sims, store)
        # a cluster without a Prometheus of its own has none: never the other cluster's
        only_east = settings_with({"contexts": {"east": {"url": urls["east"]}}}, sims["east"].kubeconfig)
        assert gate(only_east, sims, ("east",))[0] == GateState.PASSED
        top = only_east.prom_config()
        assert top is not None and top.for_cluster("west") is None


def test_one_prometheus_with_a_cluster_label(sims: dict[str, Simulator], store: Store, tmp_path: Path) -> None:
    targets = labelled_targets(sims, tmp_path / "both-clusters.json")
    with prometheus_server(targets) as url:
        for name in NAMES:
            wait_up(url, f'{UP[:-1]}, cluster="{name}"}}', monitored(sims[name]), "1")
        break_west(sims)
        wait_up(url, 'up{job="kata-monitor", cluster="west"}', monitored(sims["west"]), "0")
        wait_up(url, 'up{job="kata-monitor", cluster="east"}', monitored(sims["east"]), "1")
        settings = settings_with({"url": url, "cluster_label": "cluster"}, sims["east"].kubeconfig)
        check_isolation(settings, sims, store)
        west = settings.prom_config(cluster="west")
        assert west is not None
        errors = PromSource(west, "1m").scrape_errors()  # /api/v1/targets, filtered by the label
        assert errors is not None and set(errors) == monitored(sims["west"])
        east = settings.prom_config(cluster="east")
        assert east is not None and PromSource(east, "1m").scrape_errors() == {}


def _no_config() -> Any:
    raise AssertionError("a URL always gives a config")


def test_the_rewritten_queries_parse_in_a_real_prometheus(tmp_path: Path) -> None:
    """Every injector case, rewritten, is a query Prometheus accepts (2.42: no quoted metric names)."""
    targets = tmp_path / "none.json"
    targets.write_text("[]")
    with prometheus_server(targets) as url:
        for query, rewritten in CASES:
            if '{"' in query:
                continue
            instant(url, rewritten)  # asserts status == success
        source = PromSource(settings_with({"url": url, "cluster_label": "cluster"}, tmp_path).prom_config(
            cluster="c") or _no_config(), "1m")  # fmt: skip
        for name, query in source.promql().items():
            answer = source.raw(query)
            assert isinstance(answer, list), (name, answer)
