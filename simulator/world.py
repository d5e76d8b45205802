"""The simulated world: the object store plus the truth behind it, and the fleet it starts with.

``World`` owns the store, the clock, the faults and per-node truth (which Kata release is
really installed). Behaviour lives in ``kubelet`` (pods), ``installer`` (kata-deploy) and
``disruption`` (evictions and PDBs); they all act through the store, so every change is
visible over the API and in watches.

The store is one of two backends. The in-memory ``ObjectStore`` is served by our own API
server, and the world then also plays the control plane (``controllers``: scheduling, the
DaemonSet and ReplicaSet controllers, evictions). A ``KubeMirror`` fronts a real API server,
whose own controllers do that, and the world only plays the nodes (``simulator.kubeworld``).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from simulator import builders, kata
from simulator import resources as r
from simulator.faults import Faults
from simulator.fleet import FleetSpec, NodeSpec
from simulator.installmode import InstallConfig, InstallMode
from simulator.objectstore import Entry, ObjectStore, ObjectView, WatchEvent, rfc3339

NAMESPACES = (
    "default",
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "kata-system",
    "confidential-containers-system",
    "ci-builds",
    "apps",
)
BUILD_NAMESPACE, APP_NAMESPACE = "ci-builds", "apps"
# kata-monitor comes with the kata-deploy chart (monitor.enabled, 3.32.0+), in the chart's release namespace,
# which is kata-deploy's (kube-system here), not kata-system.
CAA_NAMESPACE, MONITOR_NAMESPACE = "confidential-containers-system", "kube-system"
RUN_SECONDS_ANNOTATION = "sim.fleetctl.io/run-seconds"  # a pod that finishes after this many (simulated) seconds
REPLACE_ANNOTATION = "sim.fleetctl.io/replace"  # "true": a copied pod whose controller recreates it when it goes
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def _uuid4(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}"


@dataclass
class NodeTruth:
    """What is really true of a node, whatever its objects say."""

    spec: NodeSpec
    installed: str
    install_generation: int = 0  # bumps on every install start, so a stale install task stops


@dataclass
class Stats:
    """Counters tests and benchmarks read through ``/_sim/stats``."""

    kata_deploy_pod_deletions: Counter[str] = field(default_factory=Counter)
    installs: Counter[str] = field(default_factory=Counter)
    install_failures: Counter[str] = field(default_factory=Counter)
    evictions: int = 0
    evictions_refused: int = 0
    api_requests: int = 0
    api_errors_injected: int = 0
    watch_events_sent: int = 0
    watches_dropped: int = 0  # watches the server ended early (a fault, or /_sim/drop-watches)


class World:
    """The fleet, its objects and its behaviour."""

    def __init__(
        self,
        fleet: FleetSpec,
        *,
        time_scale: float = 1.0,
        faults: Faults | None = None,
        store: ObjectView | None = None,
        install: InstallConfig | None = None,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time scale must be > 0")
        self.fleet = fleet
        self.install = install or InstallConfig()
        """How kata-deploy is deployed (``simulator.installmode``)."""
        self.time_scale = time_scale
        self.faults = faults or Faults()
        self._ids = random.Random(fleet.seed)
        self.rng = random.Random(fleet.seed + 1)
        # The uids a server assigns come from their own stream, so the names the world draws (pods,
        # events) are the same on both backends: a real API server draws its uids apart from ours.
        self._server_ids = random.Random(fleet.seed + 2)
        self.memory: ObjectStore | None = (
            None if store is not None else ObjectStore(uid=lambda: _uuid4(self._server_ids), now=self.now)
        )
        self.store: ObjectView = store if store is not None else self.memory  # type: ignore[assignment]
        self.controllers = store is None  # the world plays the control plane only for its own API server
        self.pods_started: set[str] = set()  # uids of the pods whose kubelet start has begun
        self.pod_removed: Callable[[dict[str, Any]], None] = lambda _pod: None
        """What happens when a pod leaves: the in-memory controllers (simulator.controllers) when
        the world plays the control plane; nothing on a real one, whose controllers act."""
        self.nodes: dict[str, NodeTruth] = {n.name: NodeTruth(n, n.release) for n in fleet.nodes}
        self._node_traits: dict[str, tuple[Entry, tuple[bool, bool, frozenset[str]]]] = {}
        self.pods_by_node: dict[str, set[tuple[str, str]]] = {n.name: set() for n in fleet.nodes}
        self.stats = Stats()
        self.started = time.monotonic()
        self.targets_path: Path | None = None
        self.server_port: int = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pod_ip = 0
        self._stamp_second, self._stamp = 0, ""
        self.finishing: list[tuple[float, str, str, str]] = []  # heap of (due, namespace, name, uid)
        self.rollouts: set[tuple[str, str]] = set()  # (namespace, name) of the DaemonSets rolling now
        self.store.listeners.append(self._index_pod)

    # -- time and ids --------------------------------------------------------------------

    def memory_store(self) -> ObjectStore:
        """The in-memory store, for our own API server (the other backend has none)."""
        if self.memory is None:
            raise RuntimeError("this world runs on a real API server: it has no in-memory store")
        return self.memory

    def now(self) -> datetime:
        """Wall-clock time (timestamps are real; only durations are scaled)."""
        return datetime.now(UTC)

    def stamp(self) -> str:
        """Now, as Kubernetes writes timestamps (second precision, so cached per second)."""
        second = int(time.time())
        if second != self._stamp_second:
            self._stamp_second, self._stamp = second, rfc3339(self.now())
        return self._stamp

    async def sleep(self, sim_seconds: float) -> None:
        """Wait ``sim_seconds`` of simulated time."""
        await asyncio.sleep(max(0.0, sim_seconds) / self.time_scale)

    async def tick(self, sim_seconds: float, *, floor: float = 0.25) -> None:
        """Wait between rounds of a periodic loop: ``sim_seconds`` scaled, but never under ``floor`` real seconds."""
        await asyncio.sleep(max(floor, sim_seconds / self.time_scale))

    def new_uid(self) -> str:
        """A deterministic (per seed) version-4 UUID."""
        return _uuid4(self._ids)

    def hex_id(self, length: int = 64) -> str:
        """A random hex string (container IDs, image digests)."""
        return f"{self._ids.getrandbits(length * 4):0{length}x}"

    def suffix(self, n: int = 5) -> str:
        """A generateName-style random suffix."""
        return "".join(self._ids.choices(_NAME_ALPHABET, k=n))

    def unique_name(self, rt: r.ResourceType, namespace: str, prefix: str, suffix: str = "") -> str:
        """``prefix`` + a random suffix (+ ``suffix``) not yet taken, as generateName retries on conflict."""
        while True:
            name = f"{prefix}{self.suffix(5)}{suffix}"
            if self.store.get(rt, namespace, name) is None:
                return name

    def next_pod_ip(self, node: str) -> str:
        """The next pod IP in the node's pod CIDR."""
        self._pod_ip += 1
        base = self.nodes[node].spec.pod_cidr.rsplit(".", 1)[0] if node in self.nodes else "10.250.0"
        return f"{base}.{self._pod_ip % 250 + 2}"

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run behaviour in the background; it is cancelled when the world stops."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Cancel every background task."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- queries used by behaviour, metrics and the admin API ----------------------------

    def node_obj(self, name: str) -> dict[str, Any] | None:
        """The Node object, or None."""
        entry = self.store.get(r.NODES, "", name)
        return entry.obj if entry else None

    def node_ready(self, name: str) -> bool:
        """The node's Ready condition."""
        return self._traits(name)[1]

    def node_handlers(self, name: str) -> frozenset[str]:
        """The runtime handlers the node reports."""
        return self._traits(name)[2]

    def _traits(self, name: str) -> tuple[bool, bool, frozenset[str]]:
        """(schedulable, Ready, handlers), worked out once per version of the Node object: the
        scheduler asks for every node each time it places a pod."""
        entry = self.store.get(r.NODES, "", name)
        if entry is None:
            return (False, False, frozenset())
        cached = self._node_traits.get(name)
        if cached is not None and cached[0] is entry:
            return cached[1]
        node = entry.obj
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))
        handlers = frozenset(h["name"] for h in node["status"].get("runtimeHandlers", []) if h.get("name"))
        traits = (ready and not node["spec"].get("unschedulable"), ready, handlers)
        self._node_traits[name] = (entry, traits)
        return traits

    def schedulable_nodes(self, handler: str | None = None) -> list[str]:
        """Ready, uncordoned nodes (with ``handler`` if given), in name order."""
        out = []
        for name in self.nodes:
            schedulable, _, handlers = self._traits(name)
            if schedulable and (not handler or handler in handlers):
                out.append(name)
        return out

    def pods_on(self, node: str) -> list[Entry]:
        """The pods bound to ``node``."""
        out = []
        for ns, name in sorted(self.pods_by_node.get(node, ())):
            entry = self.store.get(r.PODS, ns, name)
            if entry is not None:
                out.append(entry)
        return out

    def truth(self) -> dict[str, Any]:
        """What is really installed where (``/_sim/nodes``)."""
        return {
            name: {
                "arch": t.spec.arch,
                "zone": t.spec.zone,
                "installed": t.installed,
                "customKernel": t.spec.custom_kernel,
            }
            for name, t in self.nodes.items()
        }

    # -- events ---------------------------------------------------------------------------

    def record_event(
        self,
        involved: dict[str, Any],
        reason: str,
        message: str,
        *,
        warning: bool = False,
        component: str = "kubelet",
        host: str | None = None,
    ) -> None:
        """Write a core/v1 Event about ``involved`` (a full object)."""
        meta = involved["metadata"]
        namespace = meta.get("namespace") or "default"
        ref = {
            "kind": involved["kind"],
            "name": meta["name"],
            "uid": meta.get("uid", ""),
            "apiVersion": involved["apiVersion"],
        }
        if meta.get("namespace"):
            ref["namespace"] = meta["namespace"]
        name = f"{meta['name']}.{self._ids.getrandbits(64):016x}"
        self.store.create(
            r.EVENTS,
            builders.event(
                name=name,
                namespace=namespace,
                involved=ref,
                reason=reason,
                message=message,
                type_="Warning" if warning else "Normal",
                component=component,
                host=host,
                at=self.stamp(),
            ),
        )

    # -- populating ----------------------------------------------------------------------

    def build_node(self, spec: NodeSpec, version: str) -> dict[str, Any]:
        """A Node object for ``spec`` with Kata ``version`` installed."""
        release = kata.RELEASES[version]
        labels = {
            **spec.labels,
            "beta.kubernetes.io/arch": spec.arch,
            "beta.kubernetes.io/os": "linux",
            "kubernetes.io/arch": spec.arch,
            "kubernetes.io/hostname": spec.name,
            "kubernetes.io/os": "linux",
            "node-role.kubernetes.io/worker": "",
            "node.kubernetes.io/instance-type": spec.instance_type,
            "topology.kubernetes.io/region": "eu-de",
            "topology.kubernetes.io/zone": spec.zone,
            kata.LABEL_RUNTIME: "true",
            kata.LABEL_DEFAULT: "true",
        }
        if spec.peer_pods:
            labels[kata.LABEL_PEER_PODS] = "true"
        if self.install.mode is InstallMode.LABEL:
            labels[self.install.label] = version
        if spec.secure_execution:
            labels[kata.LABEL_SE] = "true"
        annotations = {
            "node.alpha.kubernetes.io/ttl": "0",
            "volumes.kubernetes.io/controller-managed-attach-detach": "true",
        }
        annotations.update(kata.reported(release, spec, self.stamp()))
        handlers = kata.handlers_for(
            version, spec.arch, peer_pods=spec.peer_pods, secure_execution=spec.secure_execution, labels=spec.labels
        )
        obj = builders.node(
            spec, uid=self.new_uid(), at=self.stamp(), labels=labels, annotations=annotations, handlers=handlers
        )
        if spec.unschedulable:
            obj["spec"]["unschedulable"] = True
            obj["spec"]["taints"] = [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]
        if not spec.ready:
            obj["status"]["conditions"] = builders.node_conditions(
                False, self.stamp(), reason="NodeStatusUnknown", message="Kubelet stopped posting node status."
            )
        return obj

    def _index_pod(self, event: WatchEvent) -> None:
        if event.key != r.PODS.key:
            return
        meta, node = event.entry.obj["metadata"], event.entry.obj.get("spec", {}).get("nodeName")
        key = (meta["namespace"], meta["name"])
        if event.old is not None:
            old_node = event.old.obj.get("spec", {}).get("nodeName")
            if old_node and old_node != node:
                self.pods_by_node.get(old_node, set()).discard(key)
        if node:
            if event.type == "DELETED":
                self.pods_by_node.get(node, set()).discard(key)
            else:
                self.pods_by_node.setdefault(node, set()).add(key)

    # -- targets for Prometheus ----------------------------------------------------------

    def write_targets(self) -> None:
        """Write the Prometheus file_sd target file: one target per node that runs kata-monitor."""
        if self.targets_path is None:
            return
        missing = set(self.faults.kataMonitorMissing)
        groups = [
            {
                "targets": [f"127.0.0.1:{self.server_port}"],
                "labels": {
                    "__metrics_path__": f"/kata-monitor/{name}/metrics",
                    "instance": f"{name}:8090",
                    "node": name,
                    "arch": truth.spec.arch,
                    "zone": truth.spec.zone,
                },
            }
            for name, truth in self.nodes.items()
            if truth.spec.kata_monitor and name not in missing
        ]
        tmp = self.targets_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(groups, indent=1))
        tmp.replace(self.targets_path)  # atomic, so Prometheus never reads half a file
