"""A fake cluster and a fake clock for the upgrade engine's in-process tests (upgrades.ports).

``FakeCluster`` keeps Node and Pod objects in dicts and behaves as the engine expects a cluster
to: a deleted kata-deploy pod installs its DaemonSet's release after the node's install time on
the fake clock; an eviction is refused (429) as often as the test says; a smoke pod succeeds
where the node has its handler. ``FakeClock`` only moves when someone waits on it, so the tests
run in milliseconds and never depend on the machine's speed. Node objects come from the
simulator's builders, so ``facts`` reads them exactly as the collector does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from collectors.inventory.nodefacts import NodeExtras, build_facts
from simulator import kata
from simulator.fleet import FleetSpec, NodeSpec, make_fleet
from simulator.world import World
from store.facts import NodeFacts
from store.states import Eviction, NodeMark, Step
from upgrades.cluster import CORDONED_BY, CURRENT_VERSION, RUN_ANNOTATION, STEP_ANNOTATION

Obj = dict[str, Any]
DEPLOY_NS, DEPLOY_DS = "kube-system", "kata-deploy"


class FakeClock:
    """Seconds that pass only when something sleeps (thread-safe: nodes run on threads), and a
    wall time that moves with them from ``wall`` (UTC)."""

    WALL = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

    def __init__(self, start: float = 1000.0, *, wall: datetime = WALL) -> None:
        self.start, self.seconds, self.wall = start, start, wall
        self._moved = threading.Condition()

    def monotonic(self) -> float:
        with self._moved:
            return self.seconds

    def now(self) -> datetime:
        with self._moved:
            return self.wall + timedelta(seconds=self.seconds - self.start)

    def sleep(self, seconds: float) -> None:
        with self._moved:
            self.seconds += max(0.0, seconds)
            self._moved.notify_all()

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Until ``event`` is set, or until others' sleeps have moved the clock ``seconds`` on
        (waiting moves nothing; the event is looked at every few real milliseconds)."""
        with self._moved:
            until = self.seconds + max(0.0, seconds)
            while not event.is_set() and self.seconds < until:
                self._moved.wait(0.005)
        return event.is_set()


@dataclass
class Calls:
    """What the engine asked for, by method, in order."""

    log: list[tuple[str, str]] = field(default_factory=list)

    def count(self, method: str, target: str | None = None) -> int:
        return sum(1 for m, t in self.log if m == method and (target is None or t == target))


class FakeCluster:
    """One cluster's API, in memory (see the module docstring)."""

    def __init__(self, fleet: FleetSpec, clock: FakeClock, *, cluster: str = "fake", run_id: int = 1) -> None:
        self.cluster, self.run_id, self.marker = cluster, run_id, f"run-{run_id}"
        self.clock = clock
        self.world = World(fleet)  # the simulator's builders: real Node objects
        self.specs: dict[str, NodeSpec] = {n.name: n for n in fleet.nodes}
        self.nodes: dict[str, Obj] = {n.name: self.world.build_node(n, n.release) for n in fleet.nodes}
        self.pods: dict[tuple[str, str], Obj] = {}
        self.install_seconds: dict[str, float] = {"amd64": 30.0, "s390x": 60.0, "ppc64le": 45.0}
        self.installing: dict[str, tuple[float, str]] = {}  # node -> (done at, release)
        self.installs: dict[str, int] = {}
        self.refusals: dict[str, int] = {}  # pod name -> evictions still to refuse with a 429
        self.ends: dict[tuple[str, str], float] = {}  # pod -> when it runs to completion (a build)
        self.failing_installs: set[str] = set()  # nodes whose kata-deploy crash-loops
        self.config_maps: dict[tuple[str, str], Obj] = {}
        self.install_label = "fleetctl.io/kata-release"  # the label a label-gated installer acts on
        self.jobs: dict[tuple[str, str], Obj] = {}
        self.errors: dict[str, Exception] = {}  # method -> raised on its next call
        self.calls = Calls()
        self.events: list[tuple[str, str]] = []
        self.daemonsets: dict[tuple[str, str], Obj] = {
            (DEPLOY_NS, DEPLOY_DS): {
                "metadata": {"name": DEPLOY_DS, "namespace": DEPLOY_NS, "labels": {"name": DEPLOY_DS}},
                "spec": {
                    "selector": {"matchLabels": {"name": DEPLOY_DS}},
                    "updateStrategy": {"type": "OnDelete"},
                    "template": {
                        "spec": {
                            "containers": [{"name": "kube-kata", "image": kata.deploy_image(fleet.template_version)}]
                        }
                    },
                },
            }
        }
        self._lock = threading.RLock()
        for spec in fleet.nodes:
            self.add_pod(f"kata-deploy-{spec.name}", DEPLOY_NS, spec.name, labels={"name": DEPLOY_DS},
                         image=kata.deploy_image(spec.release), owner="DaemonSet")  # fmt: skip

    # -- test helpers --------------------------------------------------------------------

    def add_pod(
        self, name: str, namespace: str, node: str, *, labels: dict[str, str] | None = None, image: str = "busybox",
        owner: str = "ReplicaSet", phase: str = "Running",
    ) -> Obj:  # fmt: skip
        pod = {
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}", "labels": labels or {},
                         "ownerReferences": [{"kind": owner, "name": "x", "controller": True}]},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": image}]},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": str(phase == "Running")}]},
        }  # fmt: skip
        self.pods[(namespace, name)] = pod
        return pod

    def _raise(self, method: str, target: str) -> None:
        self.calls.log.append((method, target))
        error = self.errors.pop(method, None)
        if error is not None:
            raise error

    def _advance_installs(self) -> None:
        now = self.clock.monotonic()
        for key, at in list(self.ends.items()):
            if at <= now and key in self.pods:
                del self.ends[key]
                self.pods[key]["status"]["phase"] = "Succeeded"
        for name, (at, release) in list(self.installing.items()):
            if at <= now:
                del self.installing[name]
                self._installed(name, release)

    def _installed(self, name: str, release: str) -> None:
        spec = self.specs[name]
        old = self.nodes[name]
        label = old["metadata"].get("labels", {}).get(self.install_label)
        ours = {
            k: v
            for k, v in old["metadata"]["annotations"].items()
            if k in (CORDONED_BY, RUN_ANNOTATION, STEP_ANNOTATION)
        }
        self.nodes[name] = self.world.build_node(spec, release)
        if label is not None:  # what fleetctl set stays set: the label, its annotations, the cordon
            self.nodes[name]["metadata"]["labels"][self.install_label] = label
        self.nodes[name]["metadata"]["annotations"].update(ours)
        if old["spec"].get("unschedulable"):
            self.nodes[name]["spec"]["unschedulable"] = True
        self.installs[name] = self.installs.get(name, 0) + 1
        self.add_pod(f"kata-deploy-{name}", DEPLOY_NS, name, labels={"name": DEPLOY_DS}, image=kata.deploy_image(release),
                     owner="DaemonSet")  # fmt: skip

    def _selected(self, pod: Obj, label_selector: str | None) -> bool:
        if not label_selector:
            return True
        labels = pod["metadata"].get("labels") or {}
        return all(labels.get(k) == v for k, v in (term.split("=", 1) for term in label_selector.split(",")))

    # -- ClusterAPI ----------------------------------------------------------------------

    def begin_many(self, action: str, targets: Sequence[str], reason: str) -> list[str]:
        return [f"{action}:{t}" for t in targets]

    def node(self, name: str) -> Obj:
        self._raise("node", name)
        with self._lock:
            self._advance_installs()
            return self.nodes[name]

    def list_nodes(self) -> Iterator[list[Obj]]:
        with self._lock:
            self._advance_installs()
            yield list(self.nodes.values())

    def facts(self, node: Obj, pins: dict[str, str]) -> NodeFacts:
        return build_facts(node, NodeExtras(), pins)

    def trace(self, name: str, step: Step) -> None:
        self._raise("trace", name)
        with self._lock:
            self.nodes[name]["metadata"]["annotations"].update(
                {RUN_ANNOTATION: str(self.run_id), STEP_ANNOTATION: step}
            )

    def cordon(self, name: str, seen: Obj | None = None, *, next_step: Step = Step.DRAIN) -> bool:
        self._raise("cordon", name)
        with self._lock:
            node = self.nodes[name]
            if node["metadata"]["annotations"].get(CORDONED_BY) == self.marker:
                return True
            if node["spec"].get("unschedulable"):
                return False
            node["spec"]["unschedulable"] = True
            node["metadata"]["annotations"].update({CORDONED_BY: self.marker, STEP_ANNOTATION: next_step})
            return True

    def uncordon(self, name: str, step: NodeMark = Step.DONE, *, ours: bool | None = None) -> bool:
        self._raise("uncordon", name)
        with self._lock:
            node = self.nodes[name]
            node["metadata"]["annotations"][STEP_ANNOTATION] = step
            if node["metadata"]["annotations"].get(CORDONED_BY) != self.marker:
                return False
            del node["metadata"]["annotations"][CORDONED_BY]
            node["spec"]["unschedulable"] = False
            return True

    def wait_node(self, name: str, ready: Callable[[Obj], bool], seconds: float) -> Obj | None:
        with self._lock:
            self._advance_installs()
            if ready(self.nodes[name]):
                return self.nodes[name]
            pending = self.installing.get(name)
        if pending is not None and pending[0] <= self.clock.monotonic() + seconds:
            self.clock.sleep(pending[0] - self.clock.monotonic())
        else:
            self.clock.sleep(seconds)
        with self._lock:
            self._advance_installs()
            return self.nodes[name] if ready(self.nodes[name]) else None

    def event(self, name: str, uid: str | None, reason: str, message: str, *, warning: bool = False) -> None:
        self.events.append((name, reason))

    def pods_on(self, name: str, label_selector: str | None = None) -> list[Obj]:
        return self.pod_list(name, label_selector)[0]

    def pod_list(self, name: str, label_selector: str | None = None) -> tuple[list[Obj], str]:
        with self._lock:
            self._advance_installs()
            pods = [
                p for p in self.pods.values() if p["spec"]["nodeName"] == name and self._selected(p, label_selector)
            ]
            return pods, "1"

    def wait_pods_gone(self, name: str, uids: set[str], version: str, seconds: float) -> bool:
        with self._lock:
            left = [p for p in self.pods.values() if p["metadata"]["uid"] in uids]
        if left:
            self.clock.sleep(seconds)
        return not left

    def evict(self, pod: Obj, grace: int | None, key: str | None = None) -> Eviction:
        meta = pod["metadata"]
        self._raise("evict", meta["name"])
        with self._lock:
            if (meta["namespace"], meta["name"]) not in self.pods:
                return Eviction.GONE
            if self.refusals.get(meta["name"], 0) > 0:
                self.refusals[meta["name"]] -= 1
                return Eviction.BLOCKED
            del self.pods[(meta["namespace"], meta["name"])]
            return Eviction.EVICTED

    def delete_pod(
        self, namespace: str, name: str, *, grace: int | None = None, reason: str = "", key: str | None = None
    ) -> bool:
        self._raise("delete_pod", name)
        with self._lock:
            pod = self.pods.pop((namespace, name), None)
            if pod is None:
                return False
            node = pod["spec"]["nodeName"]
            if namespace == DEPLOY_NS and (pod["metadata"].get("labels") or {}).get("name") == DEPLOY_DS:
                release = kata.image_version(
                    self.daemonsets[(DEPLOY_NS, DEPLOY_DS)]["spec"]["template"]["spec"]["containers"][0]["image"]
                )
                if node in self.failing_installs:
                    crashing = self.add_pod(f"kata-deploy-{node}", DEPLOY_NS, node, labels={"name": DEPLOY_DS},
                                            image=kata.deploy_image(release), owner="DaemonSet")  # fmt: skip
                    crashing["status"]["containerStatuses"] = [
                        {"state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off restarting"}}}
                    ]
                else:
                    self.installing[node] = (
                        self.clock.monotonic() + self.install_seconds[self.specs[node].arch],
                        release,
                    )
            return True

    def pod(self, namespace: str, name: str) -> Obj | None:
        with self._lock:
            return self.pods.get((namespace, name))

    def create_pod(self, pod: Obj, *, reason: str) -> None:
        self._raise("create_pod", pod["metadata"]["name"])
        node = pod["spec"]["nodeName"]
        with self._lock:
            handlers = {h["name"] for h in self.nodes[node]["status"].get("runtimeHandlers", [])}
            phase = "Succeeded" if pod["spec"].get("runtimeClassName") in handlers else "Failed"
            created = self.add_pod(
                pod["metadata"]["name"], pod["metadata"]["namespace"], node, owner="None", phase=phase
            )
            created["metadata"]["ownerReferences"] = []

    def daemonset(self, namespace: str, name: str) -> Obj:
        self._raise("daemonset", name)
        return self.daemonsets[(namespace, name)]

    def set_image(self, ds: Obj, image: str, *, reason: str) -> None:
        self._raise("set_image", ds["metadata"]["name"])
        with self._lock:
            stored = self.daemonsets[(ds["metadata"]["namespace"], ds["metadata"]["name"])]
            stored["spec"]["template"]["spec"]["containers"][0]["image"] = image

    def find_daemonset(self, namespace: str, name: str) -> Obj | None:
        self._raise("find_daemonset", name)
        return self.daemonsets.get((namespace, name))

    def config_map(self, namespace: str, name: str) -> Obj | None:
        return self.config_maps.get((namespace, name))

    def job(self, namespace: str, name: str) -> Obj | None:
        """A Job; an install Job is Complete once its node installed, Failed when installs fail there."""
        with self._lock:
            self._advance_installs()
            job = self.jobs.get((namespace, name))
            if job is None:
                return None
            node = job["spec"]["template"]["spec"]["nodeName"]
            if node in self.failing_installs:
                job["status"] = {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                                                 "message": "Job has reached the specified backoff limit"}]}  # fmt: skip
            elif node not in self.installing:
                job["status"] = {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}
            return job

    def create_job(self, job: Obj, *, reason: str) -> None:
        self.calls.log.append(("create_job", job["metadata"]["name"]))
        with self._lock:
            key = (job["metadata"]["namespace"], job["metadata"]["name"])
            if key in self.jobs:
                return
            self.jobs[key] = job
            node = job["spec"]["template"]["spec"]["nodeName"]
            release = kata.image_version(job["spec"]["template"]["spec"]["containers"][0]["image"])
            if node not in self.failing_installs:
                self.installing[node] = (self.clock.monotonic() + self.install_seconds[self.specs[node].arch], release)

    def delete_job(self, namespace: str, name: str, *, reason: str) -> None:
        self.calls.log.append(("delete_job", name))
        self.jobs.pop((namespace, name), None)

    def label_node(self, name: str, key: str, value: str | None, *, reason: str) -> None:
        self._raise("label_node", name)
        with self._lock:
            labels = self.nodes[name]["metadata"].setdefault("labels", {})
            if value is None:
                labels.pop(key, None)
            else:
                labels[key] = value
            if key == self.install_label and value in kata.RELEASES:  # the user's label-gated installer
                self.installing[name] = (self.clock.monotonic() + self.install_seconds[self.specs[name].arch], value)

    def mark_installed(self, name: str, release: str) -> None:
        self._raise("mark_installed", name)
        with self._lock:
            self.nodes[name]["metadata"]["annotations"][CURRENT_VERSION] = release


class FakeLock:
    """The run's lock, always ours."""

    def __init__(self) -> None:
        self.acquired = self.released = 0

    def acquire(self) -> None:
        self.acquired += 1

    def renew(self) -> bool:
        return True

    def release(self) -> None:
        self.released += 1


def small_fleet(nodes: int = 6, seed: int = 3) -> FleetSpec:
    """A fleet of a few nodes, none cordoned or NotReady, at releases below the newest."""
    fleet = make_fleet("small", seed=seed, nodes=max(nodes, 6))
    keep = [n for n in fleet.nodes if n.ready and not n.unschedulable and n.release != "4.1.0"][:nodes]
    fleet.nodes[:] = keep
    return fleet


def now() -> datetime:
    return datetime.now(UTC)
