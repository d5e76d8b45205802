"""The official kubernetes Python client works against the simulator unchanged."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from simulator.server import Simulator
from tests.support.sim import admin, api_client, raw


def test_list_nodes_in_pages_with_limit_and_continue(sim_small: Simulator) -> None:
    core = client.CoreV1Api(api_client(sim_small))
    names: list[str] = []
    token = None
    pages = 0
    while True:
        page = core.list_node(limit=7, _continue=token) if token else core.list_node(limit=7)
        names += [n.metadata.name for n in page.items]
        pages += 1
        token = page.metadata._continue
        if not token:
            break
    assert pages == -(-len(sim_small.world.nodes) // 7)
    assert sorted(names) == sorted(sim_small.world.nodes) and len(names) == len(set(names))


def test_a_garbled_continue_token_is_a_400(sim_small: Simulator) -> None:
    with pytest.raises(ApiException) as info:
        client.CoreV1Api(api_client(sim_small)).list_node(limit=5, _continue="not-a-token!")
    assert info.value.status == 400


def test_watch_sees_changes_and_bookmarks(fresh_sim: Simulator) -> None:
    core = client.CoreV1Api(api_client(fresh_sim))
    rv = core.list_node(limit=1).metadata.resource_version
    core.patch_node("kata-ppc64le-0000", {"metadata": {"labels": {"watched": "yes"}}})
    seen: list[str] = []
    for event in watch.Watch().stream(
        core.list_node, resource_version=rv, allow_watch_bookmarks=True, timeout_seconds=2
    ):
        seen.append(event["type"])
        if event["type"] == "MODIFIED":
            assert event["object"].metadata.labels["watched"] == "yes"
        if "BOOKMARK" in seen and "MODIFIED" in seen:
            break
    assert "MODIFIED" in seen and "BOOKMARK" in seen


def test_a_compacted_history_answers_410_and_a_relist_recovers(fresh_sim: Simulator) -> None:
    core = client.CoreV1Api(api_client(fresh_sim))
    old_rv = core.list_node(limit=1).metadata.resource_version
    core.patch_node("kata-amd64-0003", {"metadata": {"labels": {"gen": "1"}}})
    admin(fresh_sim, "/_sim/compact", "POST")
    w = watch.Watch()
    with pytest.raises(ApiException) as info:
        # timeout_seconds disables the client's own one retry, so the 410 reaches us
        for _ in w.stream(core.list_node, resource_version=old_rv, timeout_seconds=2):
            pass
    assert info.value.status == 410
    fresh = core.list_node()
    assert len(fresh.items) == len(fresh_sim.world.nodes)
    events = list(
        watch.Watch().stream(core.list_node, resource_version=fresh.metadata.resource_version, timeout_seconds=1)
    )
    assert all(e["type"] != "ERROR" for e in events)


def test_patch_node_strategic_merge_and_json_patch(fresh_sim: Simulator) -> None:
    core = client.CoreV1Api(api_client(fresh_sim))
    node = core.patch_node(
        "kata-amd64-0004", {"spec": {"unschedulable": True}, "metadata": {"annotations": {"a": "1"}}}
    )
    assert node.spec.unschedulable is True
    assert node.metadata.annotations["a"] == "1"
    assert node.metadata.labels["kubernetes.io/arch"] == "amd64"  # merged, not replaced
    node = core.patch_node("kata-amd64-0004", [{"op": "remove", "path": "/spec/unschedulable"}])
    assert not node.spec.unschedulable


def test_eviction_is_refused_by_a_pdb_then_allowed(fresh_sim: Simulator) -> None:
    core = client.CoreV1Api(api_client(fresh_sim))
    pods = core.list_namespaced_pod("apps", label_selector="app=app-03").items
    assert len(pods) >= 2
    body = client.V1Eviction(metadata=client.V1ObjectMeta(name=pods[0].metadata.name, namespace="apps"))
    core.create_namespaced_pod_eviction(pods[0].metadata.name, "apps", body)  # maxUnavailable 1: allowed
    second = client.V1Eviction(metadata=client.V1ObjectMeta(name=pods[1].metadata.name, namespace="apps"))
    with pytest.raises(ApiException) as info:
        core.create_namespaced_pod_eviction(pods[1].metadata.name, "apps", second)
    assert info.value.status == 429
    assert "disruption budget" in info.value.body
    pdb = client.PolicyV1Api(api_client(fresh_sim)).read_namespaced_pod_disruption_budget("app-03", "apps")
    assert pdb.spec.max_unavailable == 1


def test_lease_replace_with_a_stale_resource_version_conflicts(fresh_sim: Simulator) -> None:
    coord = client.CoordinationV1Api(api_client(fresh_sim))
    now = dt.datetime.now(dt.UTC)
    lease = client.V1Lease(
        metadata=client.V1ObjectMeta(name="fleetctl-run-1", namespace="kube-system"),
        spec=client.V1LeaseSpec(
            holder_identity="executor-a", lease_duration_seconds=15, acquire_time=now, renew_time=now
        ),
    )
    created = coord.create_namespaced_lease("kube-system", lease)
    stale_rv = created.metadata.resource_version
    created.spec.holder_identity = "executor-a"
    created.spec.renew_time = now + dt.timedelta(seconds=5)
    renewed = coord.replace_namespaced_lease("fleetctl-run-1", "kube-system", created)
    assert renewed.metadata.resource_version != stale_rv
    created.metadata.resource_version = stale_rv
    created.spec.holder_identity = "executor-b"
    with pytest.raises(ApiException) as info:
        coord.replace_namespaced_lease("fleetctl-run-1", "kube-system", created)
    assert info.value.status == 409
    assert coord.read_namespaced_lease("fleetctl-run-1", "kube-system").spec.holder_identity == "executor-a"
    with pytest.raises(ApiException) as dup:
        coord.create_namespaced_lease("kube-system", lease)
    assert dup.value.status == 409


def test_a_wrong_token_gets_401(sim_small: Simulator, tmp_path: Path) -> None:
    wrong = tmp_path / "kubeconfig"
    wrong.write_text(sim_small.kubeconfig.read_text().replace(sim_small.token, "wrong-token"))
    api = config.new_client_from_config(config_file=str(wrong), persist_config=False)
    with pytest.raises(ApiException) as info:
        client.CoreV1Api(api).list_node()
    assert info.value.status == 401
    status, body = raw(sim_small, "/api/v1/nodes", token="")
    assert status == 401 and body["kind"] == "Status" and body["reason"] == "Unauthorized"


def test_dropped_watches_end_early_and_a_rewatch_continues(fresh_sim: Simulator) -> None:
    core = client.CoreV1Api(api_client(fresh_sim))
    admin(fresh_sim, "/_sim/faults", "PATCH", {"api": {"dropWatchesAfterSeconds": 0.5}})
    rv = core.list_node(limit=1).metadata.resource_version
    dropped = admin(fresh_sim, "/_sim/stats")["watchesDropped"]
    events = list(watch.Watch().stream(core.list_node, resource_version=rv, timeout_seconds=600))
    assert admin(fresh_sim, "/_sim/stats")["watchesDropped"] == dropped + 1  # the fault ended it, not the timeout
    assert events == []
    core.patch_node("kata-amd64-0006", {"metadata": {"labels": {"after": "drop"}}})
    admin(fresh_sim, "/_sim/faults", "PATCH", {"api": {"dropWatchesAfterSeconds": 0}})
    resumed = list(watch.Watch().stream(core.list_node, resource_version=rv, timeout_seconds=1))
    assert [e["object"].metadata.name for e in resumed if e["type"] == "MODIFIED"] == ["kata-amd64-0006"]


def test_a_bookmark_never_overtakes_queued_events(fresh_sim: Simulator) -> None:
    # A burst of changes while bookmarks are due: every change must arrive before a bookmark
    # that claims a resourceVersion at or past it.
    core = client.CoreV1Api(api_client(fresh_sim))
    rv = core.list_node(limit=1).metadata.resource_version
    admin(fresh_sim, "/_sim/touch", "POST", {"count": 600})
    seen_bookmark = 0
    for event in watch.Watch().stream(
        core.list_node, resource_version=rv, allow_watch_bookmarks=True, timeout_seconds=2
    ):
        version = int(event["raw_object"]["metadata"]["resourceVersion"])
        if event["type"] == "BOOKMARK":
            seen_bookmark = max(seen_bookmark, version)
        else:
            assert version > seen_bookmark, "an event arrived after a bookmark that claimed it was sent"
