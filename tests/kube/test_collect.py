"""``fleetctl collect`` against the real API server: every fact matches the world's truth, watch mode
follows changes, and an etcd compaction makes the informer relist for real (410 Gone)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from kubernetes import client
from sqlmodel import select

from clients.kube.client import KubeClient
from clients.kube.config import open_contexts
from collectors.inventory.collector import RetryPolicy
from collectors.inventory.informer import NodeInformer
from collectors.inventory.watching import watch_cluster
from collectors.releases.catalog import kernel_pins
from simulator.server import Simulator
from store.migrate import open_store
from store.models import Cluster, Node, NodeState
from tests.support.fleet import Fleet
from tests.support.sim import admin, api_client, wait_for

pytestmark = pytest.mark.xdist_group("kube")
FAST = RetryPolicy(base=0.01, cap=0.05)


def states(db: str) -> dict[str, NodeState]:
    with open_store(db) as store, store.read() as s:
        q = select(Node.name, NodeState).join(NodeState, NodeState.node_id == Node.id).join(Cluster)  # type: ignore[arg-type]
        return dict(s.exec(q.where(Node.gone_at.is_(None))).all())  # type: ignore[union-attr, call-overload]


def test_collect_matches_the_worlds_truth(kube: Simulator, tmp_path: Path) -> None:
    fleet = Fleet(kube, tmp_path)  # runs `fleetctl collect`
    got, truth = states(fleet.db), kube.world.truth()
    assert set(got) == set(truth)
    assert {n: s.kata_version for n, s in got.items()} == {n: t["installed"] for n, t in truth.items()}
    assert {n: s.arch for n, s in got.items()} == {n: t["arch"] for n, t in truth.items()}
    assert {n for n, s in got.items() if s.custom_kernel} == {n for n, t in truth.items() if t["customKernel"]}
    assert sum(s.cpu_capacity or 0 for s in got.values()) == kube.world.fleet.vcpus * 1000
    assert all(s.drift == [] for s in got.values()), {n: s.drift for n, s in got.items() if s.drift}
    assert {n for n, s in got.items() if s.caa_version} == {n for n, t in kube.world.nodes.items() if t.spec.peer_pods}
    listed = json.loads(fleet.run("nodes", "-o", "json").stdout)["items"]
    assert len(listed) == len(truth)


def test_an_etcd_compaction_makes_the_informer_relist(kube: Simulator) -> None:
    assert kube.kube is not None
    informer = NodeInformer(KubeClient(open_contexts(kube.kubeconfig)[0]), FAST)
    informer.relist()
    core = client.CoreV1Api(api_client(kube))
    node = "kata-s390x-0002"
    core.patch_node(node, {"metadata": {"labels": {"after-compaction": "yes"}}})
    client.CoreV1Api(api_client(kube)).create_namespaced_config_map(
        "default", {"metadata": {"name": f"bump-{time.monotonic_ns()}"}}
    )  # the revision moves past the node's change, so the informer's resourceVersion is older than it
    kube.kube.plane.compact()
    wait_for(lambda: informer.watch_until(time.monotonic() + 0.5) or informer.relists == 2, interval=0, what="a relist")
    assert sorted(informer.nodes) == sorted(kube.world.nodes)
    assert informer.nodes[node]["metadata"]["labels"]["after-compaction"] == "yes"
    core.patch_node(node, {"metadata": {"labels": {"after-compaction": None}}})


def test_watch_mode_follows_a_cordon_and_a_failed_install(kube: Simulator, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'watch.db'}"
    store = open_store(db)
    rounds: list[object] = []
    stop = threading.Event()
    context = open_contexts(kube.kubeconfig)[0]
    thread = threading.Thread(
        target=watch_cluster, args=(KubeClient(context), store, kernel_pins(store)),
        kwargs={"interval": 0.5, "stop": stop, "on_round": rounds.append},
    )  # fmt: skip
    api = api_client(kube)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    node, failing = "kata-amd64-0002", "kata-amd64-0004"
    ds = apps.read_namespaced_daemon_set("kata-deploy", "kube-system")
    image = ds.spec.template.spec.containers[0].image
    thread.start()
    try:
        wait_for(lambda: len(rounds) >= 1, what="the first round")
        core.patch_node(node, {"spec": {"unschedulable": True}})
        wait_for(lambda: states(db)[node].unschedulable, what="the cordon to reach the store")
        admin(kube, "/_sim/faults", "PATCH", {"installFailures": [{"arch": "amd64", "rate": 1.0}]})
        template = {"spec": {"template": {"spec": {"containers": [{"name": "kube-kata", "image": f"{image.rsplit(':', 1)[0]}:4.1.0"}]}}}}  # fmt: skip
        apps.patch_namespaced_daemon_set("kata-deploy", "kube-system", template)
        selector = {"label_selector": "name=kata-deploy", "field_selector": f"spec.nodeName={failing}"}
        pod = core.list_namespaced_pod("kube-system", **selector).items[0]
        core.delete_namespaced_pod(pod.metadata.name, "kube-system")
        wait_for(lambda: "kata-deploy pod is CrashLoopBackOff" in states(db)[failing].drift, what="the failed install")
        assert states(db)[failing].kata_deploy_version == "4.1.0"
    finally:
        stop.set()
        thread.join(timeout=60)
        store.close()
        core.patch_node(node, {"spec": {"unschedulable": None}})
        admin(kube, "/_sim/faults", "PATCH", {"installFailures": []})
        apps.patch_namespaced_daemon_set("kata-deploy", "kube-system", {"spec": {"template": {"spec": {"containers": [{"name": "kube-kata", "image": image}]}}}})  # fmt: skip
        for p in core.list_namespaced_pod("kube-system", **selector).items:
            core.delete_namespaced_pod(p.metadata.name, "kube-system")  # it installs the node's release again
    assert all(r.error is None for r in rounds)  # type: ignore[attr-defined]
    wait_for(lambda: kube.world.nodes[failing].installed == image.rsplit(":", 1)[1], what="the failed node reinstalled")
