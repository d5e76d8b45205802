"""The Kata world on a real API server: the simulated nodes' kubelets, acting through the API as KWOK does.

The real control plane does the controllers' work: the scheduler binds pods, the DaemonSet
controller makes a node's kata-deploy pod again after fleetctl deletes it, evictions honour
PodDisruptionBudgets kept by the disruption controller, the ReplicaSet controller replaces
evicted app pods and the garbage collector takes a PeerPod with its pod. What no control plane
does, this module does for every simulated node, with the same behaviour code as the in-memory
backend (``kubelet``, ``installer``, ``metrics``), through a ``KubeMirror``:

- registers the Node objects (capacity, nodeInfo, labels, taints, ``runtimeHandlers``) and keeps
  their Leases in ``kube-node-lease`` renewed;
- runs the pods bound to them: Running and Ready, or ``FailedCreatePodSandBox`` where the
  handler is missing; builds run to completion; graceful deletions are finished;
- emulates kata-deploy: a new kata-deploy pod on a node (of the kata-deploy DaemonSet, of a
  ``label`` mode installer DaemonSet, or of a Job) installs its image's release after the per-arch
  delay, with the NotReady blip, the label (not for a Job's pod), the handlers and the reporter
  annotations; a Job's pod then ends Succeeded or Failed, and the real Job controller follows.

At the start the history of an OnDelete DaemonSet (each node's kata-deploy pod at that node's
own release) is seeded by creating the pods first and the DaemonSets after: the controller
adopts them, as it would have made them over months of upgrades.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from simulator import builders, installer, jobs, kata, kubelet
from simulator import resources as r
from simulator.kubemirror import KubeHTTP, KubeMirror, path_of
from simulator.objectstore import ApiError, Obj, WatchEvent

if TYPE_CHECKING:
    from simulator.world import World

from simulator.fleet import APPS
from simulator.world import APP_NAMESPACE, NAMESPACES

LEASE_NAMESPACE = "kube-node-lease"
LEASE_SECONDS = 40
RENEW_SECONDS = 10.0
MONITOR_LABEL = "sim.fleetctl.io/kata-monitor"  # the real kata-monitor DaemonSet selects nodes by it


def _micro(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _create(http: KubeHTTP, rt: r.ResourceType, obj: Obj, namespace: str | None = None) -> None:
    """POST, taking 409 AlreadyExists as done (populate may meet what the server made itself)."""
    status, body = http.request("POST", path_of(rt, namespace), obj)
    if status >= 400 and status != 409:
        raise ApiError(
            status,
            str(body.get("reason", "")),
            f"creating {rt.kind} {obj['metadata']['name']}: {body.get('message', body)}",
        )


_SERVICE_ACCOUNTS = r.ResourceType("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", True)
_CRDS = r.ResourceType(
    "apiextensions.k8s.io",
    "v1",
    "customresourcedefinitions",
    "customresourcedefinition",
    "CustomResourceDefinition",
    False,
)
_REPLICASETS = r.ResourceType("apps", "v1", "replicasets", "replicaset", "ReplicaSet", True)


class KubeWorld:
    """The node agent for every simulated node on one real API server."""

    def __init__(self, world: World, http: KubeHTTP, mirror: KubeMirror) -> None:
        self.world, self.http, self.mirror = world, http, mirror
        self.removing: set[str] = set()
        self.deleted: set[str] = set()
        self.reposting: set[str] = set()
        self._stop = threading.Event()
        self._lease_thread: threading.Thread | None = None

    # -- populating ----------------------------------------------------------------------

    def populate(self) -> None:
        """Create the fleet on the server: namespaces and their service accounts, the PeerPod CRD,
        RuntimeClasses, Nodes, each node's DaemonSet pods, the DaemonSets, builds, apps and PDBs."""
        world, http = self.world, self.http
        for ns in NAMESPACES:
            _create(http, r.NAMESPACES, {k: v for k, v in builders.namespace(ns).items() if k != "status"})
            _create(http, _SERVICE_ACCOUNTS, builders.service_account("default", ns), ns)
        for name, ns, *_ in installer.DAEMONSETS:
            _create(http, _SERVICE_ACCOUNTS, builders.service_account(f"{name}-sa", ns), ns)
        for rt, obj in installer.extra_objects(world):  # the install mode's namespace, or its Job templates
            if rt is r.NAMESPACES:
                obj = {k: v for k, v in obj.items() if k != "status"}
            _create(http, rt, obj, obj["metadata"].get("namespace"))
        crd = builders.peerpod_crd()
        crd.pop("status")
        _create(http, _CRDS, crd)
        self._wait_established(crd["metadata"]["name"])
        for rc in kata.RUNTIME_CLASSES:
            _create(http, r.RUNTIMECLASSES, builders.runtime_class(rc))
        nodes = [world.build_node(spec, world.nodes[spec.name].installed) for spec in world.fleet.nodes]
        for node, spec in zip(nodes, world.fleet.nodes, strict=True):
            if spec.kata_monitor:
                node["metadata"]["labels"][MONITOR_LABEL] = "true"
        with self.mirror.batched():
            for node in nodes:
                world.store.create(r.NODES, node)
        self._start_leases()  # from now on: a populate of thousands of pods outlasts the node-monitor grace period
        daemonsets = installer.daemonsets(world)
        for ds in daemonsets:
            if ds["metadata"]["name"] == "kata-monitor":
                ds["spec"]["template"]["spec"]["nodeSelector"] = {MONITOR_LABEL: "true"}
        pods = [pod for spec in world.fleet.nodes for pod in installer.node_pods(world, spec, daemonsets)]
        with self.mirror.batched():
            for pod in pods:
                world.store.create(r.PODS, pod)
        for ds in daemonsets:
            world.store.create(r.DAEMONSETS, {k: v for k, v in ds.items() if k != "status"})
        self._populate_workloads()

    def _populate_workloads(self) -> None:
        world = self.world
        counts = dict.fromkeys(range(APPS), 0)
        with self.mirror.batched():
            for spec in world.fleet.nodes:  # in the in-memory backend's order, so both draw the same pod names
                for _ in range(spec.builds):
                    kubelet.create_build_pod(world, spec.name, running=True)
                for app in spec.apps:
                    kubelet.create_app_pod(world, app, spec.name, running=True)
                    counts[app] += 1
        for app in range(APPS):  # the ReplicaSets adopt the pods before the PDBs count them
            _create(self.http, _REPLICASETS, _replicaset(app, counts[app]), APP_NAMESPACE)
        for app in range(APPS):
            name = f"app-{app:02d}"
            world.store.create(r.PDBS, builders.pdb(name, APP_NAMESPACE, {"app": name}, max_unavailable=1))
        self._wait_adopted()

    def _wait_adopted(self, timeout: float = 300.0) -> None:
        """Wait until the DaemonSets and ReplicaSets own every pod made for them at the start, so a
        drain or a PDB never meets an orphan (a safety deadline, not a budget)."""
        namespaces = {ns for ns, _ in installer.daemonset_keys(self.world)} | {APP_NAMESPACE}
        deadline = time.monotonic() + timeout
        while True:
            orphans = []
            for ns in sorted(namespaces):
                pods = self.http.checked("GET", path_of(r.PODS, ns)).get("items") or []
                orphans += [p["metadata"]["name"] for p in pods if not p["metadata"].get("ownerReferences")]
            if not orphans:
                return
            if time.monotonic() > deadline:
                raise ApiError(
                    504, "Timeout", f"{len(orphans)} pods were not adopted within {timeout:g}s: {orphans[:5]}"
                )
            time.sleep(0.2)

    def _wait_established(self, crd: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, body = self.http.request("GET", path_of(_CRDS, None, crd))
            conditions = (body.get("status") or {}).get("conditions") or []
            if status == 200 and any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
                return
            time.sleep(0.2)
        raise ApiError(504, "Timeout", f"the CRD {crd} was not established within {timeout:g}s")

    # -- leases --------------------------------------------------------------------------

    def renew_leases(self) -> None:
        """Create or renew every node's Lease in ``kube-node-lease`` (the kubelet's heartbeat)."""
        now = _micro(datetime.now(UTC))

        def renew(name: str) -> None:
            path = path_of(r.LEASES, LEASE_NAMESPACE, name)
            lease = builders.node_lease(name, now, LEASE_SECONDS)
            status, _ = self.http.request(
                "PATCH", path, {"spec": lease["spec"]}, content_type="application/merge-patch+json"
            )
            if status == 404:
                _create(self.http, r.LEASES, lease, LEASE_NAMESPACE)

        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:  # a round well inside the Lease's 40 s
            list(pool.map(renew, list(self.world.nodes)))

    def _start_leases(self) -> None:
        self.renew_leases()
        if self._lease_thread is None:
            self._lease_thread = threading.Thread(target=self._renew_forever, name="node-leases", daemon=True)
            self._lease_thread.start()

    def _renew_forever(self) -> None:
        while not self._stop.wait(RENEW_SECONDS):
            try:
                self.renew_leases()
            except (OSError, ApiError):
                continue  # a blip: the Lease holds for LEASE_SECONDS

    # -- the kubelets --------------------------------------------------------------------

    def start(self) -> None:
        """Follow pod events on the simulated nodes, and renew the Leases on a thread."""
        self.mirror.listeners.append(self.on_event)
        self._start_leases()
        for _, entry in list(self.mirror.scan(r.PODS)):
            self._pod(entry.obj)

    def stop(self) -> None:
        """Stop renewing Leases."""
        self._stop.set()
        if self._lease_thread is not None:
            self._lease_thread.join(timeout=30)

    def on_event(self, event: WatchEvent) -> None:
        """A pod changed: start it, finish its deletion, or count a kata-deploy pod gone. A node the
        node-lifecycle controller marked Unknown (a Lease renewed late) posts its status again."""
        if event.key == r.NODES.key and event.type != "DELETED":
            self._node(event.entry.obj)
            return
        if event.key != r.PODS.key:
            return
        pod = event.entry.obj
        node = (pod.get("spec") or {}).get("nodeName")
        if node not in self.world.nodes:
            return
        if event.type == "DELETED":
            uid = pod["metadata"].get("uid", "")
            if _owner(pod) == ("DaemonSet", installer.DEPLOY_NAME) and uid not in self.deleted:
                self.deleted.add(uid)
                self.world.stats.kata_deploy_pod_deletions[node] += 1
            self.world.pods_started.discard(uid)
            self.removing.discard(uid)
            return
        self._pod(pod)

    def _node(self, node: Obj) -> None:
        name = node["metadata"]["name"]
        truth = self.world.nodes.get(name)
        if truth is None or not truth.spec.ready or name in self.world.faults.notReadyNodes:
            return
        ready = next((c for c in node["status"].get("conditions", []) if c["type"] == "Ready"), None)
        if ready is not None and ready["status"] == "Unknown" and name not in self.reposting:
            self.reposting.add(name)
            self.world.spawn(self._repost(name))

    async def _repost(self, name: str) -> None:
        """What a kubelet does when its status loop runs again: Ready=True (the controller lifts its taints)."""
        try:
            conditions = builders.node_conditions(True, self.world.stamp())
            self.world.store.mutate(r.NODES, "", name, lambda n: n["status"].__setitem__("conditions", conditions))
        finally:
            self.reposting.discard(name)

    def _pod(self, pod: Obj) -> None:
        meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
        node, uid = spec.get("nodeName"), meta.get("uid", "")
        if node not in self.world.nodes:
            return
        if meta.get("deletionTimestamp"):
            if uid not in self.removing:
                self.removing.add(uid)
                grace = float(meta.get("deletionGracePeriodSeconds") or 0)
                self.world.spawn(
                    kubelet.remove_after(self.world, meta["namespace"], meta["name"], uid, min(grace, 2.0))
                )
            return
        if (
            status.get("phase", "Pending") != "Pending"
            or status.get("containerStatuses")
            or uid in self.world.pods_started
        ):
            return
        owner = _owner(pod)
        if owner[0] == "DaemonSet" and installer.is_installer(owner[1]):
            self.world.pods_started.add(uid)
            version = kata.image_version(spec["containers"][0]["image"])
            self.world.spawn(installer.install(self.world, node, meta["name"], version, namespace=meta["namespace"]))
        elif jobs.is_install_pod(pod):
            jobs.run_install(self.world, pod)  # the pod ends Succeeded or Failed; the real Job controller follows
        elif owner[0] == "DaemonSet":
            self.world.pods_started.add(uid)
            self.world.spawn(installer.start_plain(self.world, meta["namespace"], meta["name"]))
        else:
            self.world.spawn(kubelet.start_pod(self.world, meta["namespace"], meta["name"]))


def _owner(pod: Obj) -> tuple[str, str]:
    refs = pod["metadata"].get("ownerReferences") or [{}]
    return str(refs[0].get("kind", "")), str(refs[0].get("name", ""))


def _replicaset(app: int, replicas: int) -> Obj:
    """The ReplicaSet that owns an app's pods: it adopts the ones created at the start, and the
    real ReplicaSet controller replaces the ones evicted later."""
    name = f"app-{app:02d}"
    template_hash = kubelet.app_template_hash(app)
    labels = {"app": name, "pod-template-hash": template_hash}
    template = builders.pod(
        name="", namespace=APP_NAMESPACE, node_name=None, labels=labels, image=kubelet.APP_IMAGE.format(name),
        container=name, runtime_class="kata-qemu",
    )  # fmt: skip
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": f"{name}-{template_hash}", "namespace": APP_NAMESPACE, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": template["spec"]},
        },
    }
