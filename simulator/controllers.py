"""The in-memory backend's controllers for a pod that leaves: the DaemonSet controller makes the
node's pod again (and kata-deploy installs), a ReplicaSet or StatefulSet makes another replica, and
the garbage collector takes the pod's PeerPod. A real control plane does all of this itself, so
this runs only when the world plays the control plane (``World.controllers``).
"""

from __future__ import annotations

import copy

from simulator import installer, kubelet
from simulator import resources as r
from simulator.objectstore import Obj
from simulator.world import REPLACE_ANNOTATION, World


def on_pod_removed(world: World, pod: Obj) -> None:
    """React to a pod leaving: owners recreate theirs, PeerPods go with their pod. On a real API
    server its own controllers and garbage collector do this."""
    if not world.controllers:
        return
    meta = pod["metadata"]
    owners = meta.get("ownerReferences") or [{}]
    kind = owners[0].get("kind")
    if kind == "DaemonSet":
        installer.on_daemon_pod_removed(world, pod)
    elif (meta.get("annotations") or {}).get(REPLACE_ANNOTATION) == "true":
        world.spawn(_replace_copy(world, pod))
    elif kind == "ReplicaSet":
        app = int(meta["labels"]["app"].split("-")[1])
        world.spawn(_replace_app_pod(world, app))
    peer = world.store.get(r.PEERPODS, meta["namespace"], meta["name"])
    if peer is not None:
        world.store.delete(r.PEERPODS, meta["namespace"], meta["name"])


async def _replace_copy(world: World, gone: Obj) -> None:
    """A copied pod's controller makes a new one, unbound, for the scheduler: a StatefulSet
    reuses the name, others take a new suffix."""
    await world.sleep(1.0)
    meta = gone["metadata"]
    owners = meta.get("ownerReferences") or [{}]
    name = meta["name"]
    if owners[0].get("kind") != "StatefulSet":
        name = world.unique_name(r.PODS, meta["namespace"], name.rsplit("-", 1)[0] + "-")
    elif world.store.get(r.PODS, meta["namespace"], name) is not None:
        return
    kept: Obj = {key: copy.deepcopy(meta[key]) for key in ("labels", "annotations", "ownerReferences") if key in meta}
    fresh: Obj = {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {**kept, "name": name, "namespace": meta["namespace"]},
        "spec": {k: v for k, v in copy.deepcopy(gone["spec"]).items() if k != "nodeName"},
    }
    world.store.create(r.PODS, fresh)
    world.spawn(kubelet.start_pod(world, meta["namespace"], name))


async def _replace_app_pod(world: World, app: int) -> None:
    await world.sleep(1.0)
    kubelet.create_app_pod(world, app, None, running=False)
