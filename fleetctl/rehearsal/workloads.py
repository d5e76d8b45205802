"""A live cluster's workload pods and PodDisruptionBudgets, copied read-only for a rehearsal.

Only what drains depend on is kept: names, labels, owners, the node, the runtime class, node
selectors and grace periods. Environment, volumes and annotations (which can hold secrets) are
left behind. Build pods (the plan's ``drain.buildSelector``) are given a remaining run time within
``build_seconds`` of their start; controller-owned pods are recreated elsewhere when evicted, as
their controller would.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from clients.kube.client import KubeClient
from simulator import REPLACE_ANNOTATION, RUN_SECONDS_ANNOTATION, Workloads

RECREATED_BY = {"ReplicaSet", "StatefulSet", "ReplicationController", "Job"}  # owners that make a new pod
MIN_BUILD_LEFT_S = 60.0  # a build older than the typical duration is assumed to finish within a minute
_POD_SPEC_KEYS = ("runtimeClassName", "nodeSelector", "restartPolicy", "terminationGracePeriodSeconds", "tolerations")


@dataclass
class CopiedWorkloads:
    """The copy, and counts for the report."""

    workloads: Workloads
    builds: int
    recreated: int


def copy_workloads(
    client: KubeClient, nodes: set[str], *, build_selector: str, build_seconds: float, now: datetime | None = None
) -> CopiedWorkloads:
    """Pods running on ``nodes`` (not DaemonSet or static pods) and every PDB, with two LISTs and
    one more for the build pods; raises the client's errors when the cluster does not answer."""
    at = now or datetime.now(UTC)
    builds = {p["metadata"]["uid"] for p in _items(client, "/api/v1/pods", {"labelSelector": build_selector})}
    pods, build_count, recreated = [], 0, 0
    for pod in _items(client, "/api/v1/pods", {"fieldSelector": "status.phase!=Succeeded,status.phase!=Failed"}):
        if pod.get("spec", {}).get("nodeName") not in nodes or not _movable(pod):
            continue
        copied = _copy_pod(pod)
        notes = copied["metadata"]["annotations"]
        if pod["metadata"]["uid"] in builds:
            build_count += 1
            notes[RUN_SECONDS_ANNOTATION] = str(round(_left(pod, at, build_seconds)))
        elif _owner(pod) in RECREATED_BY:
            recreated += 1
            notes[REPLACE_ANNOTATION] = "true"
        pods.append(copied)
    pdbs = [_copy_pdb(p) for p in _items(client, "/apis/policy/v1/poddisruptionbudgets", {})]
    return CopiedWorkloads(Workloads(pods=pods, pdbs=pdbs), build_count, recreated)


def _items(client: KubeClient, path: str, params: dict[str, str]) -> Iterable[dict[str, Any]]:
    for page in client.list_pages(path, params):
        yield from page.get("items") or []


def _owner(pod: dict[str, Any]) -> str | None:
    owners = pod["metadata"].get("ownerReferences") or []
    return next((o.get("kind") for o in owners if o.get("controller")), owners[0].get("kind") if owners else None)


def _movable(pod: dict[str, Any]) -> bool:
    """What a drain acts on: not DaemonSet pods, not static (mirror) pods."""
    if _owner(pod) == "DaemonSet":
        return False
    return "kubernetes.io/config.mirror" not in (pod["metadata"].get("annotations") or {})


def _left(pod: dict[str, Any], at: datetime, build_seconds: float) -> float:
    """A build's remaining time: unknown, so spread evenly (by its uid, so repeatably) between a
    minute and the typical duration less its age. Builds then finish one after another, as in a
    busy CI fleet, rather than all at once."""
    started = (pod.get("status") or {}).get("startTime")
    age = (at - datetime.fromisoformat(started.replace("Z", "+00:00"))).total_seconds() if started else 0.0
    longest = max(MIN_BUILD_LEFT_S, build_seconds - age)
    spread = int(hashlib.sha256(pod["metadata"]["uid"].encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return MIN_BUILD_LEFT_S + spread * (longest - MIN_BUILD_LEFT_S)


def _copy_pod(pod: dict[str, Any]) -> dict[str, Any]:
    meta, spec = pod["metadata"], pod["spec"]
    owners = [
        {k: o[k] for k in ("apiVersion", "kind", "name", "uid", "controller", "blockOwnerDeletion") if k in o}
        for o in meta.get("ownerReferences") or []
    ]
    copied_meta: dict[str, Any] = {
        "name": meta["name"],
        "namespace": meta["namespace"],
        "labels": dict(meta.get("labels") or {}),
        "annotations": {},
    }
    if owners:
        copied_meta["ownerReferences"] = owners
    containers = [{"name": c["name"], "image": c.get("image", "")} for c in spec.get("containers") or []]
    copied_spec = {k: spec[k] for k in _POD_SPEC_KEYS if k in spec}
    copied_spec.update(nodeName=spec["nodeName"], containers=containers or [{"name": "main", "image": "unknown"}])
    return {"kind": "Pod", "apiVersion": "v1", "metadata": copied_meta, "spec": copied_spec}


def _copy_pdb(pdb: dict[str, Any]) -> dict[str, Any]:
    meta, spec = pdb["metadata"], pdb.get("spec") or {}
    keys = ("selector", "minAvailable", "maxUnavailable", "unhealthyPodEvictionPolicy")
    return {
        "kind": "PodDisruptionBudget",
        "apiVersion": "policy/v1",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "labels": dict(meta.get("labels") or {})},
        "spec": {k: spec[k] for k in keys if k in spec},
    }
