"""Evictions and PodDisruptionBudgets, with the API server's semantics.

An eviction that would take a PDB's healthy pods below what it requires is refused with 429
(TooManyRequests, cause DisruptionBudget), which is what kubectl drain retries on. PDB status
(currentHealthy, desiredHealthy, disruptionsAllowed, expectedPods) is kept up to date.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from simulator import resources as r
from simulator.kubelet import delete_pod, is_ready
from simulator.objectstore import ApiError, Obj
from simulator.selectors import labels_match, match_labels_selector

if TYPE_CHECKING:
    from simulator.world import World


Groups = dict[tuple[tuple[str, str], ...], list[Obj]]


def _groups(world: World, namespace: str) -> Groups:
    """The namespace's pods by their label set: one app's pods share one, so a selector is
    matched once per set rather than once per pod."""
    groups: Groups = {}
    for _, entry in world.store.scan(r.PODS, namespace):
        labels = entry.obj["metadata"].get("labels") or {}
        groups.setdefault(tuple(sorted(labels.items())), []).append(entry.obj)
    return groups


def _matching(world: World, pdb: Obj, groups: Groups | None = None) -> list[Obj]:
    reqs = match_labels_selector(pdb["spec"].get("selector"))
    if groups is None:
        groups = _groups(world, pdb["metadata"]["namespace"])
    return [pod for labels, pods in groups.items() if labels_match(reqs, dict(labels)) for pod in pods]


def budget(world: World, pdb: Obj, groups: Groups | None = None) -> dict[str, Any]:
    """The PDB's status, computed from the pods it selects."""
    selected = _matching(world, pdb, groups)
    pods = [p for p in selected if p.get("status", {}).get("phase") not in ("Succeeded", "Failed")]
    expected = len(pods)
    healthy = sum(1 for p in pods if is_ready(p))
    spec = pdb["spec"]
    if "minAvailable" in spec:
        desired = _resolve(spec["minAvailable"], expected)
    else:
        desired = max(0, expected - _resolve(spec.get("maxUnavailable", 0), expected))
    return {
        "observedGeneration": pdb["metadata"].get("generation", 1),
        "disruptionsAllowed": max(0, healthy - desired),
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "expectedPods": expected,
        "conditions": [
            {
                "type": "DisruptionAllowed",
                "status": "True" if healthy > desired else "False",
                "reason": "SufficientPods" if healthy > desired else "InsufficientPods",
                "message": "",
                "observedGeneration": pdb["metadata"].get("generation", 1),
                "lastTransitionTime": world.stamp(),
            }
        ],
    }


def _resolve(value: Any, total: int) -> int:
    if isinstance(value, str) and value.endswith("%"):
        return -(-int(value[:-1]) * total // 100)  # round up, as the disruption controller does
    return int(value)


def evict(world: World, namespace: str, name: str, body: Obj, *, dry_run: bool = False) -> None:
    """POST pods/NAME/eviction: delete the pod unless a PDB forbids it (429). A dry run
    (``kubectl drain --dry-run=server``) answers the same and deletes nothing."""
    pod = world.store.require(r.PODS, namespace, name).obj
    grace = (body.get("deleteOptions") or {}).get("gracePeriodSeconds")
    if pod["metadata"].get("deletionTimestamp") or pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
        if not dry_run:
            delete_pod(world, namespace, name, grace)
            world.stats.evictions += 1
        return
    pdbs = [
        e.obj
        for _, e in world.store.scan(r.PDBS, namespace)
        if labels_match(match_labels_selector(e.obj["spec"].get("selector")), pod["metadata"].get("labels"))
    ]
    if len(pdbs) > 1:
        raise ApiError(
            500,
            "InternalError",
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
        )
    if pdbs and is_ready(pod):
        status = budget(world, pdbs[0])
        if status["disruptionsAllowed"] < 1:
            world.stats.evictions_refused += 1
            pdb_name = pdbs[0]["metadata"]["name"]
            raise ApiError(
                429,
                "TooManyRequests",
                "Cannot evict pod as it would violate the pod's disruption budget.",
                {
                    "causes": [
                        {
                            "reason": "DisruptionBudget",
                            "message": f"The disruption budget {pdb_name} needs {status['desiredHealthy']} healthy pods "
                            f"and has {status['currentHealthy']} currently",
                        }
                    ]
                },
            )
    if dry_run:
        return
    delete_pod(world, namespace, name, grace)
    world.stats.evictions += 1
    for pdb in pdbs:
        _write_status(world, pdb)


def _write_status(world: World, pdb: Obj, groups: Groups | None = None) -> None:
    status = budget(world, pdb, groups)
    old = dict(pdb.get("status") or {})
    if {k: v for k, v in old.items() if k != "conditions"} != {k: v for k, v in status.items() if k != "conditions"}:
        world.store.mutate(
            r.PDBS, pdb["metadata"]["namespace"], pdb["metadata"]["name"], lambda p: p.__setitem__("status", status)
        )


def apply_blocking(world: World) -> None:
    """Make the PDBs of ``faults.blockingPdbApps`` allow no eviction at all (maxUnavailable 0)."""
    blocking = set(world.faults.blockingPdbApps)
    for _, entry in list(world.store.scan(r.PDBS)):
        name = entry.obj["metadata"]["name"]
        want = 0 if name in blocking else 1
        if entry.obj["spec"].get("maxUnavailable") != want and "minAvailable" not in entry.obj["spec"]:
            world.store.mutate(r.PDBS, entry.obj["metadata"]["namespace"], name, _set_max_unavailable(want))


def _set_max_unavailable(value: int) -> Callable[[Obj], None]:
    def change(pdb: Obj) -> None:
        pdb["spec"]["maxUnavailable"] = value

    return change


async def reconcile_forever(world: World) -> None:
    """Keep every PDB's status current."""
    while True:
        groups: dict[str, Groups] = {}
        for _, entry in list(world.store.scan(r.PDBS)):
            namespace = entry.obj["metadata"]["namespace"]
            if namespace not in groups:
                groups[namespace] = _groups(world, namespace)
            _write_status(world, entry.obj, groups[namespace])
        await world.tick(2.0, floor=0.5)
