"""The inventory collector against the simulator, into SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from kubernetes import client
from sqlmodel import select

from clients.kube.client import KubeClient
from clients.kube.config import open_contexts
from collectors.inventory.collector import CollectResult, RetryPolicy, collect_cluster
from collectors.inventory.informer import NodeInformer
from collectors.releases.catalog import kernel_pins
from simulator.server import ServerOptions, Simulator
from store.engine import Store
from store.migrate import open_store
from store.models import Cluster, Node, NodeChange, NodeState
from tests.support.sim import admin, api_client, wait_for

FAST = RetryPolicy(base=0.01, cap=0.05)


@pytest.fixture
def open_db() -> Iterator[Callable[[str], Store]]:
    """Open stores by URL; every one is closed after the test, pass or fail."""
    opened: list[Store] = []

    def opener(url: str) -> Store:
        opened.append(open_store(url))
        return opened[-1]

    yield opener
    for store in opened:
        store.close()


def kube(sim: Simulator, context: str | None = None) -> KubeClient:
    return KubeClient(open_contexts(sim.kubeconfig, [context] if context else None)[0])


def states(store: Store, cluster: str | None = None) -> dict[str, NodeState]:
    with store.read() as s:
        q = (
            select(Node.name, NodeState)
            .join(NodeState, NodeState.node_id == Node.id)
            .join(Cluster)
            .where(Node.gone_at.is_(None))
        )  # type: ignore[union-attr, arg-type, call-overload]
        if cluster:
            q = q.where(Cluster.name == cluster)
        return dict(s.exec(q).all())


def change_rows(store: Store) -> int:
    with store.read() as s:
        return int(s.execute(sa.select(sa.func.count()).select_from(NodeChange)).scalar_one())


def test_seed_profile_content_matches_what_the_simulator_holds(
    tmp_path: Path, sqlite_url: str, open_db: Callable[[str], Store]
) -> None:
    with Simulator(ServerOptions(profile="seed", out_dir=tmp_path / "seed", churn=False)) as sim:
        store = open_db(sqlite_url)
        result = collect_cluster(kube(sim), store, kernel_pins(store), retry=FAST)
        assert result.error is None and result.nodes == 400
        got = states(store)
        truth = sim.world.truth()
        assert set(got) == set(truth)
        assert {n: s.kata_version for n, s in got.items()} == {n: t["installed"] for n, t in truth.items()}
        assert {n: s.arch for n, s in got.items()} == {n: t["arch"] for n, t in truth.items()}
        assert {n for n, s in got.items() if s.custom_kernel} == {n for n, t in truth.items() if t["customKernel"]}
        assert sum(s.cpu_capacity or 0 for s in got.values()) == sim.world.fleet.vcpus * 1000
        assert all(s.drift == [] for s in got.values())
        assert all(s.hypervisor == "qemu" and s.machine_type for s in got.values())
        peer_nodes = {n for n, t in sim.world.nodes.items() if t.spec.peer_pods}
        assert {n for n, s in got.items() if s.caa_version} == peer_nodes


def test_a_second_collection_of_an_unchanged_fleet_writes_nothing(
    fresh_sim: Simulator, db_url: str, open_db: Callable[[str], Store]
) -> None:
    store = open_db(db_url)
    pins = kernel_pins(store)
    first = collect_cluster(kube(fresh_sim), store, pins, retry=FAST)
    assert first.snapshot and first.snapshot.added == 30
    rows = change_rows(store)
    second = collect_cluster(kube(fresh_sim), store, pins, retry=FAST)
    assert second.snapshot and second.snapshot.change_rows == 0 and change_rows(store) == rows


def test_drift_appears_when_a_nodes_signals_disagree(
    fresh_sim: Simulator, sqlite_url: str, open_db: Callable[[str], Store]
) -> None:
    store = open_db(sqlite_url)
    pins = kernel_pins(store)
    api = api_client(fresh_sim)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    node = "kata-amd64-0003"
    before = fresh_sim.world.nodes[node].installed
    collect_cluster(kube(fresh_sim), store, pins, retry=FAST)  # the baseline
    assert states(store)[node].drift == []
    admin(fresh_sim, "/_sim/faults", "PATCH", {"installFailures": [{"arch": "amd64", "rate": 1.0}]})
    apps.patch_namespaced_daemon_set(
        "kata-deploy",
        "kube-system",
        {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [{"name": "kube-kata", "image": "quay.io/kata-containers/kata-deploy:4.1.0"}]
                    }
                }
            }
        },
    )
    pod = core.list_namespaced_pod(
        "kube-system", label_selector="name=kata-deploy", field_selector=f"spec.nodeName={node}"
    ).items[0]
    core.delete_namespaced_pod(pod.metadata.name, "kube-system")
    wait_for(lambda: fresh_sim.world.stats.install_failures[node] == 1, what="the install to fail")
    collect_cluster(kube(fresh_sim), store, pins, retry=FAST)
    drift = states(store)[node].drift
    assert f"kata-deploy pod is 4.1.0 but the node reports {before}" in drift
    assert "kata-deploy pod is CrashLoopBackOff" in drift
    assert "label katacontainers.io/kata-runtime is false" in drift
    assert states(store)[node].kata_version == before
    with store.read() as s:
        facts = {r.fact for r in s.exec(select(NodeChange).join(Node).where(Node.name == node))}
    assert {"drift", "kata_deploy_version", "kata_label"} <= facts


def test_a_forced_410_relists_without_losing_or_duplicating_nodes(fresh_sim: Simulator) -> None:
    informer = NodeInformer(kube(fresh_sim), FAST)
    informer.relist()
    assert informer.relists == 1 and len(informer.nodes) == 30
    core = client.CoreV1Api(api_client(fresh_sim))
    core.patch_node("kata-s390x-0002", {"metadata": {"labels": {"after-compaction": "yes"}}})
    admin(fresh_sim, "/_sim/compact", "POST")  # our resourceVersion is now older than the server's history
    watch_until_seen(informer, lambda: informer.relists == 2, "the 410 to relist")
    assert sorted(informer.nodes) == sorted(fresh_sim.world.nodes)
    assert informer.nodes["kata-s390x-0002"]["metadata"]["labels"]["after-compaction"] == "yes"
    core.patch_node("kata-s390x-0003", {"spec": {"unschedulable": True}})
    watch_until_seen(informer, lambda: informer.nodes["kata-s390x-0003"]["spec"].get("unschedulable"), "the cordon")
    assert informer.relists == 2


def watch_until_seen(informer: NodeInformer, seen: Callable[[], Any], what: str) -> None:
    """Apply watch events in short slices until ``seen()`` holds (however long the machine takes)."""
    wait_for(lambda: informer.watch_until(time.monotonic() + 0.5) or seen(), interval=0, what=what)


def test_collection_completes_under_a_5_percent_api_error_rate_and_counts_errors(
    fresh_sim: Simulator, sqlite_url: str, open_db: Callable[[str], Store]
) -> None:
    admin(fresh_sim, "/_sim/faults", "PATCH", {"api": {"errorRate": 0.05}})
    store = open_db(sqlite_url)
    pins = kernel_pins(store)
    retried = 0
    for _ in range(8):
        k = kube(fresh_sim)
        result = collect_cluster(k, store, pins, retry=FAST)
        assert result.error is None and result.nodes == 30
        retried += result.errors_retried
    assert retried >= 1
    assert admin(fresh_sim, "/_sim/stats")["apiErrorsInjected"] == retried
    assert len(states(store)) == 30


def test_a_list_that_keeps_failing_writes_nothing(
    fresh_sim: Simulator, sqlite_url: str, open_db: Callable[[str], Store]
) -> None:
    store = open_db(sqlite_url)
    pins = kernel_pins(store)
    collect_cluster(kube(fresh_sim), store, pins, retry=FAST)
    rows = change_rows(store)
    client.CoreV1Api(api_client(fresh_sim)).patch_node("kata-amd64-0001", {"metadata": {"labels": {"x": "y"}}})
    admin(fresh_sim, "/_sim/faults", "PATCH", {"api": {"errorRate": 1.0}})
    result = collect_cluster(kube(fresh_sim), store, pins, retry=RetryPolicy(attempts=2, base=0.01))
    assert result.error and "simulated API server error" in result.error
    assert change_rows(store) == rows and len(states(store)) == 30


def _merged_kubeconfig(path: Path, *sims: Simulator) -> Path:
    merged: dict[str, object] = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}
    for sim in sims:
        cfg = yaml.safe_load(sim.kubeconfig.read_text())
        for key in ("clusters", "users", "contexts"):
            merged[key] += cfg[key]  # type: ignore[operator]
    merged["current-context"] = merged["contexts"][0]["name"]  # type: ignore[index]
    path.write_text(yaml.safe_dump(merged))
    return path


def test_two_simulators_feed_one_store_kept_apart_by_cluster(
    tmp_path: Path, db_url: str, open_db: Callable[[str], Store]
) -> None:
    a = Simulator(
        ServerOptions(profile="small", seed=1, cluster_name="eu-a", out_dir=tmp_path / "a", churn=False)
    ).start()
    b = Simulator(
        ServerOptions(profile="small", seed=2, nodes=12, cluster_name="eu-b", out_dir=tmp_path / "b", churn=False)
    ).start()
    try:
        kubeconfig = _merged_kubeconfig(tmp_path / "merged", a, b)
        store = open_db(db_url)
        pins = kernel_pins(store)
        for ctx in open_contexts(kubeconfig, all_contexts=True):
            assert collect_cluster(KubeClient(ctx), store, pins, retry=FAST).error is None
        assert len(states(store, "eu-a")) == 30 and len(states(store, "eu-b")) == 12
        assert {n: s.kata_version for n, s in states(store, "eu-b").items()} == {
            n: t["installed"] for n, t in b.world.truth().items()
        }
        with store.read() as s:
            assert sorted(c.name for c in s.exec(select(Cluster))) == ["eu-a", "eu-b"]
    finally:
        a.stop()
        b.stop()


@pytest.mark.parametrize(
    "value",
    [
        "x" * 100_000,
        "[" * 30_000 + "]" * 30_000,
        "{not json",
        '{"Kernel": {"Path": "\\udcff\\u0000"}}',
        '{"Runtime": []}',
    ],
    ids=["huge", "nested", "not-json", "not-utf8", "wrong-shape"],
)
def test_a_hostile_reporter_annotation_is_a_parse_problem_for_that_node(
    fresh_sim: Simulator, db_url: str, value: str, open_db: Callable[[str], Store]
) -> None:
    core = client.CoreV1Api(api_client(fresh_sim))
    core.patch_node("kata-ppc64le-0001", {"metadata": {"annotations": {"reporter.fleetctl.io/kata-env": value}}})
    store = open_db(db_url)
    result = collect_cluster(kube(fresh_sim), store, kernel_pins(store), retry=FAST)
    assert result.error is None and result.nodes == 30
    got = states(store)
    assert got["kata-ppc64le-0001"].parse_problems
    assert all(not s.parse_problems for n, s in got.items() if n != "kata-ppc64le-0001")


def test_watch_mode_writes_every_interval(
    fresh_sim: Simulator, sqlite_url: str, open_db: Callable[[str], Store]
) -> None:
    store = open_db(sqlite_url)
    with watching(fresh_sim, store, interval=0.5) as rounds:
        wait_for(lambda: len(rounds) >= 1, what="the first round")
        client.CoreV1Api(api_client(fresh_sim)).patch_node("kata-amd64-0002", {"spec": {"unschedulable": True}})
        wait_for(lambda: states(store)["kata-amd64-0002"].unschedulable, what="the cordon to reach the store")
        # A failed install shows within a round or two, not ten intervals later.
        api = api_client(fresh_sim)
        core = client.CoreV1Api(api)
        admin(fresh_sim, "/_sim/faults", "PATCH", {"installFailures": [{"arch": "amd64", "rate": 1.0}]})
        image = "quay.io/kata-containers/kata-deploy:4.1.0"
        template = {"spec": {"template": {"spec": {"containers": [{"name": "kube-kata", "image": image}]}}}}
        client.AppsV1Api(api).patch_namespaced_daemon_set("kata-deploy", "kube-system", template)
        selector = {"label_selector": "name=kata-deploy", "field_selector": "spec.nodeName=kata-amd64-0004"}
        pod = core.list_namespaced_pod("kube-system", **selector).items[0]
        core.delete_namespaced_pod(pod.metadata.name, "kube-system")
        wait_for(
            lambda: "kata-deploy pod is CrashLoopBackOff" in states(store)["kata-amd64-0004"].drift,
            what="the failed install to show in watch mode",
        )
        assert states(store)["kata-amd64-0004"].kata_deploy_version == "4.1.0"
    assert all(r.error is None for r in rounds)


@contextmanager
def watching(sim: Simulator, store: Store, **options: Any) -> Iterator[list[CollectResult]]:
    """``watch_cluster`` on a thread for the block; the rounds it reported, as they come."""
    from collectors.inventory.watching import watch_cluster

    rounds: list[CollectResult] = []
    stop = threading.Event()
    thread = threading.Thread(
        target=watch_cluster,
        args=(kube(sim), store, kernel_pins(store)),
        kwargs={"stop": stop, "on_round": rounds.append, **options},
    )
    thread.start()
    try:
        yield rounds
    finally:
        stop.set()
        thread.join(timeout=10)


def _running_kata_remote_pods(sim: Simulator) -> dict[str, int]:
    """Running kata-remote pods per node, as the simulator holds them."""
    counts: dict[str, int] = {}
    for node in sim.world.nodes:
        for pod in sim.world.pods_on(node):
            if pod.obj["spec"].get("runtimeClassName") == "kata-remote" and pod.obj["status"].get("phase") == "Running":
                counts[node] = counts.get(node, 0) + 1
    return counts


REFUSED = "peer pods were counted from kata-remote pods, PeerPods were not read: "


def test_a_refused_peerpods_list_is_reported_and_kata_remote_pods_stand_in(
    fresh_sim: Simulator, sqlite_url: str, open_db: Callable[[str], Store]
) -> None:
    admin(fresh_sim, "/_sim/faults", "PATCH", {"api": {"forbidden": ["peerpods"]}})
    store = open_db(sqlite_url)
    result = collect_cluster(kube(fresh_sim), store, kernel_pins(store), retry=FAST)
    assert result.snapshot is not None and result.nodes == 30  # the facts stand
    assert result.error and result.error.startswith(REFUSED) and 'cannot list resource "peerpods"' in result.error
    assert result.hint and "RBAC" in result.hint
    remote = _running_kata_remote_pods(fresh_sim)
    assert remote and {n: s.peerpod_count for n, s in states(store).items() if s.peerpod_count} == remote


def test_watch_mode_reports_a_refused_peerpods_list_once_and_again_when_it_changes(
    fresh_sim: Simulator, sqlite_url: str, open_db: Callable[[str], Store]
) -> None:
    def peerpod_lists() -> int:
        return sum(1 for r in admin(fresh_sim, "/_sim/requests") if r["resource"] == "peerpods" and r["verb"] == "list")

    def reported() -> list[CollectResult]:
        return [r for r in rounds if r.error]

    admin(fresh_sim, "/_sim/faults", "PATCH", {"api": {"forbidden": ["peerpods"]}})
    store = open_db(sqlite_url)
    with watching(fresh_sim, store, interval=0.2, pods_every=2) as rounds:
        wait_for(lambda: len(rounds) >= 5, what="five rounds: three refused reads of PeerPods (rounds 0, 2, 4)")
        assert peerpod_lists() >= 3
        assert reported() == [rounds[0]]  # once, in the first round, not at every read
        first = rounds[0]
        assert first.error and first.error.startswith(REFUSED) and 'cannot list resource "peerpods"' in first.error
        assert first.hint and "RBAC" in first.hint and first.snapshot is not None and first.nodes == 30
        admin(fresh_sim, "/_sim/faults", "PATCH", {"api": {"forbidden": []}})
        admin(fresh_sim, "/_sim/requests?clear=1")
        wait_for(lambda: peerpod_lists() >= 1, what="a read of PeerPods that is allowed")
        admin(fresh_sim, "/_sim/faults", "PATCH", {"api": {"forbidden": ["peerpods"]}})
        wait_for(lambda: len(reported()) == 2, what="the refusal, after a read that was allowed, to be reported again")
    again = reported()[1]
    assert (again.error, again.hint) == (first.error, first.hint) and again.snapshot is not None
    remote = _running_kata_remote_pods(fresh_sim)
    assert remote and {n: s.peerpod_count for n, s in states(store).items() if s.peerpod_count} == remote
