"""Stale sandboxes end to end: the simulator's pods, ``fleetctl collect``, then ``nodes --where`` and
``describe node``, against a count worked out here from the pods and nodes read over HTTP."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from simulator.server import Simulator
from tests.support.cli import fleetctl_in_process
from tests.support.sim import raw, wait_for

INSTALLED_AT = "upgrade.fleetctl.io/installed-at"


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _items(sim: Simulator, path: str) -> list[dict[str, Any]]:
    status, body = raw(sim, path)
    assert status == 200, body
    return list(body["items"])


def _running(pod: dict[str, Any]) -> bool:
    return pod.get("status", {}).get("phase") == "Running" and not pod["metadata"].get("deletionTimestamp")


def _is_deploy(pod: dict[str, Any]) -> bool:
    return (pod["metadata"].get("labels") or {}).get("name") == "kata-deploy"


def _kata_starts(pods: list[dict[str, Any]]) -> dict[str, list[datetime]]:
    out: dict[str, list[datetime]] = {}
    for pod in pods:
        if pod.get("status", {}).get("phase") == "Running" and (pod["spec"].get("runtimeClassName") or "").startswith(
            "kata"
        ):
            out.setdefault(pod["spec"]["nodeName"], []).append(_time(pod["status"]["startTime"]))
    return out


def expected_counts(sim: Simulator) -> dict[str, int | None]:
    """Each node's stale sandboxes, from what the API server holds right now."""
    pods = _items(sim, "/api/v1/pods")
    deploy_start = {
        p["spec"]["nodeName"]: _time(p["status"]["startTime"]) for p in pods if _is_deploy(p) and _running(p)
    }
    starts = _kata_starts(pods)
    out: dict[str, int | None] = {}
    for node in _items(sim, "/api/v1/nodes"):
        name = node["metadata"]["name"]
        annotated = (node["metadata"].get("annotations") or {}).get(INSTALLED_AT)
        installed = _time(annotated) if annotated else deploy_start.get(name)
        out[name] = None if installed is None else sum(1 for s in starts.get(name, []) if s < installed)
    return out


def collected_counts(sim: Simulator, db: str) -> dict[str, int | None]:
    result = fleetctl_in_process("--kubeconfig", str(sim.kubeconfig), "--db", db, "collect")
    assert result.returncode == 0, result.stderr
    listed = fleetctl_in_process("--db", db, "nodes", "-o", "json")
    return {item["name"]: item["staleSandboxes"] for item in json.loads(listed.stdout)["items"]}


def _two_nodes_with_kata_pods(sim: Simulator) -> tuple[str, str]:
    starts = _kata_starts(_items(sim, "/api/v1/pods"))
    busy = sorted(n for n, s in starts.items() if s)
    assert len(busy) >= 2, starts
    return busy[0], busy[1]


def _reinstall(sim: Simulator, node: str) -> None:
    """Delete the node's kata-deploy pod: its DaemonSet makes a new one, which installs again (once the
    simulator's clock, which stamps whole seconds, has moved past the node's newest Kata pod)."""
    newest = max(_kata_starts(_items(sim, "/api/v1/pods"))[node])
    wait_for(lambda: _time(sim.world.stamp()) > newest, what="the simulator's clock to pass the builds' start")
    (old,) = [p for p in _items(sim, "/api/v1/pods") if _is_deploy(p) and p["spec"]["nodeName"] == node]
    meta = old["metadata"]
    status, body = raw(sim, f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}", "DELETE")
    assert status == 200, body

    def new_one_runs() -> bool:
        pods = _items(sim, "/api/v1/pods")
        return any(_is_deploy(p) and _running(p) and p["spec"]["nodeName"] == node and p["metadata"]["name"] !=
                   meta["name"] for p in pods)  # fmt: skip

    wait_for(new_one_runs, what=f"a new kata-deploy pod running on {node}")


def test_nodes_and_describe_report_the_sandboxes_started_before_the_install(
    fresh_sim: Simulator, sqlite_url: str
) -> None:
    annotated, reinstalled = _two_nodes_with_kata_pods(fresh_sim)
    later = max(_kata_starts(_items(fresh_sim, "/api/v1/pods"))[annotated]) + timedelta(hours=1)
    patch = {"metadata": {"annotations": {INSTALLED_AT: later.strftime("%Y-%m-%dT%H:%M:%SZ")}}}
    status, body = raw(
        fresh_sim, f"/api/v1/nodes/{annotated}", "PATCH", json.dumps(patch).encode(),
        {"Content-Type": "application/merge-patch+json"},
    )  # fmt: skip
    assert status == 200, body
    _reinstall(fresh_sim, reinstalled)

    def agree() -> dict[str, int | None] | None:
        got, want = collected_counts(fresh_sim, sqlite_url), expected_counts(fresh_sim)
        return want if got == want else None  # a build may end between the two reads: read both again

    want = wait_for(agree, interval=0.5, what="the collected counts to match the pods")
    assert want[annotated] and want[reinstalled], want  # the annotation, and a kata-deploy pod newer than builds
    assert 0 in want.values()  # elsewhere kata-deploy started before the builds

    where = fleetctl_in_process("--db", sqlite_url, "nodes", "--where", "stale_sandboxes > 0", "-o", "json")
    assert {i["name"]: i["staleSandboxes"] for i in json.loads(where.stdout)["items"]} == {
        n: v for n, v in want.items() if v
    }
    described = fleetctl_in_process("--db", sqlite_url, "describe", "node", reinstalled)
    assert f"Stale sandboxes:  {want[reinstalled]}" in described.stdout, described.stdout
