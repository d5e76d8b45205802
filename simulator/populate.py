"""The in-memory backend's fleet at the start: namespaces, RuntimeClasses, the PeerPod CRD, the
DaemonSets, nodes and their Leases, each node's DaemonSet pods, builds, apps and PDBs; and the
in-memory controllers wired in. The real control plane's counterpart is ``kubeworld.KubeWorld.populate``.
"""

from __future__ import annotations

import functools

from simulator import builders, controllers, installer, jobs, kata, kubelet, labelinstall
from simulator import resources as r
from simulator.fleet import APPS, Workloads
from simulator.installmode import InstallMode
from simulator.world import APP_NAMESPACE, NAMESPACES, World


def populate(world: World) -> None:
    """Create the fleet's objects: namespaces, RuntimeClasses, DaemonSets, nodes, pods and PDBs."""
    world.pod_removed = functools.partial(controllers.on_pod_removed, world)
    for ns in NAMESPACES:
        world.store.create(r.NAMESPACES, builders.namespace(ns))
        world.store.create(r.SERVICEACCOUNTS, builders.service_account("default", ns))
    for rc in kata.RUNTIME_CLASSES:
        world.store.create(r.RUNTIMECLASSES, builders.runtime_class(rc))
    world.store.create(r.CRDS, builders.peerpod_crd())
    installer.create_daemonsets(world)
    jobs.start(world)
    if world.install.mode is InstallMode.LABEL:
        labelinstall.start(world)
    heartbeat = world.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for spec in world.fleet.nodes:
        world.store.create(r.NODES, world.build_node(spec, world.nodes[spec.name].installed))
        world.store.create(r.LEASES, builders.node_lease(spec.name, heartbeat))
    for spec in world.fleet.nodes:
        installer.create_node_pods(world, spec)
    if world.fleet.workloads is not None:
        _adopt(world, world.fleet.workloads)
        return
    for spec in world.fleet.nodes:
        for _ in range(spec.builds):
            kubelet.create_build_pod(world, spec.name, running=True)
        for app in spec.apps:
            kubelet.create_app_pod(world, app, spec.name, running=True)
    for app in range(APPS):
        name = f"app-{app:02d}"
        world.store.create(r.PDBS, builders.pdb(name, APP_NAMESPACE, {"app": name}, max_unavailable=1))


def _adopt(world: World, workloads: Workloads) -> None:
    """Create copied pods (running on their nodes) and PDBs, and the namespaces they live in."""
    known = set(NAMESPACES)
    for obj in [*workloads.pods, *workloads.pdbs]:
        ns = obj["metadata"]["namespace"]
        if ns not in known:
            known.add(ns)
            world.store.create(r.NAMESPACES, builders.namespace(ns))
    for pod in workloads.pods:
        if pod["spec"].get("nodeName") in world.nodes:
            kubelet.adopt_pod(world, pod)
    for pdb in workloads.pdbs:
        world.store.create(r.PDBS, pdb)
