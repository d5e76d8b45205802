"""The ``label`` install mode's DaemonSet controller part (in-memory backend): installers follow a node label.

Each release has an installer DaemonSet (``installer.installer_daemonset``) selecting the nodes
whose install label names it. When a node's label changes, the pods of the installers that no
longer select it are deleted and the installer that now does makes its pod, which installs its
release. A node whose label is removed keeps what it has installed. On a real control plane its
DaemonSet controller does this, and ``kubeworld`` runs the new pod's install.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulator import installer, kubelet
from simulator import resources as r
from simulator.installmode import LABEL_DS_PREFIX, LABEL_NAMESPACE
from simulator.objectstore import WatchEvent

if TYPE_CHECKING:
    from simulator.world import World


def start(world: World) -> None:
    """React to install-label changes on ``world``'s nodes."""
    world.store.listeners.append(lambda event: _on_node_change(world, event))


def _on_node_change(world: World, event: WatchEvent) -> None:
    if event.key != r.NODES.key or event.type != "MODIFIED" or event.old is None:
        return
    key = world.install.label
    old = (event.old.obj["metadata"].get("labels") or {}).get(key)
    new = (event.entry.obj["metadata"].get("labels") or {}).get(key)
    if old != new:
        world.spawn(_follow(world, event.entry.obj["metadata"]["name"]))


async def _follow(world: World, node: str) -> None:
    """Make the node's installer pods match the installers that select it now."""
    node_obj = world.node_obj(node)
    if node_obj is None:
        return
    for _, entry in list(world.store.scan(r.DAEMONSETS, LABEL_NAMESPACE)):
        ds = entry.obj
        name = ds["metadata"]["name"]
        if not name.startswith(LABEL_DS_PREFIX):
            continue
        pods = [
            p.obj
            for p in world.pods_on(node)
            if (p.obj["metadata"].get("ownerReferences") or [{}])[0].get("uid") == ds["metadata"]["uid"]
        ]
        if installer.selects(ds, node_obj):
            if not pods:
                installer.start_daemon_pod(world, ds, node)
            continue
        for pod in pods:
            if not pod["metadata"].get("deletionTimestamp"):
                kubelet.delete_pod(world, pod["metadata"]["namespace"], pod["metadata"]["name"], None)
