"""Pods: scheduling, starting (or failing for a missing handler), finishing, deleting, replacing.

A pod with a Kata RuntimeClass starts only on a node whose ``runtimeHandlers`` lists that
handler; elsewhere the kubelet reports ``FailedCreatePodSandBox`` and the pod stays Pending
until its ``activeDeadlineSeconds`` runs out, as on a real node.
"""

from __future__ import annotations

import asyncio
import copy
import heapq
import time
from typing import TYPE_CHECKING

from simulator import builders
from simulator import resources as r
from simulator.objectstore import Obj

if TYPE_CHECKING:
    from simulator.world import World

from simulator.world import APP_NAMESPACE, BUILD_NAMESPACE, RUN_SECONDS_ANNOTATION

STARTUP_SECONDS = 3.0  # sandbox + container start
BUILD_SECONDS = (600.0, 3600.0)  # Tekton builds run 10 to 60 minutes
APP_IMAGE = "registry.internal/ci/{}:1.4.2"

COMMAND_SECONDS = 2.0  # how long a one-shot pod without a run-seconds annotation runs


def running_status(world: World, pod: Obj, *, ready: bool = True) -> Obj:
    """The status of a pod whose containers are running."""
    at = world.stamp()
    node = pod["spec"].get("nodeName", "")
    ip = world.next_pod_ip(node)
    host_ip = world.nodes[node].spec.ip if node in world.nodes else "10.0.0.1"
    flag = "True" if ready else "False"
    containers = pod["spec"]["containers"]
    return {
        "phase": "Running",
        "conditions": [
            {"type": "PodReadyToStartContainers", "status": "True", "lastProbeTime": None, "lastTransitionTime": at},
            {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": at},
            {"type": "Ready", "status": flag, "lastProbeTime": None, "lastTransitionTime": at},
            {"type": "ContainersReady", "status": flag, "lastProbeTime": None, "lastTransitionTime": at},
            {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": at},
        ],
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": at,
        "containerStatuses": [
            {
                "name": c["name"],
                "state": {"running": {"startedAt": at}},
                "lastState": {},
                "ready": ready,
                "restartCount": 0,
                "image": c["image"],
                "imageID": f"{c['image'].split(':')[0]}@sha256:{world.hex_id()}",
                "containerID": f"containerd://{world.hex_id()}",
                "started": True,
            }
            for c in containers
        ],
        "qosClass": pod.get("status", {}).get("qosClass") or builders.qos_class(pod["spec"]),  # set on create
    }


def set_ready(pod: Obj, ready: bool) -> None:
    """Flip a running pod's Ready and ContainersReady conditions."""
    flag = "True" if ready else "False"
    for cond in pod["status"].get("conditions", []):
        if cond["type"] in ("Ready", "ContainersReady"):
            cond["status"] = flag
    for cs in pod["status"].get("containerStatuses", []):
        cs["ready"] = ready


def is_ready(pod: Obj) -> bool:
    """Running, Ready and not being deleted."""
    if pod["metadata"].get("deletionTimestamp") or pod.get("status", {}).get("phase") != "Running":
        return False
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def create_build_pod(world: World, node: str, *, running: bool) -> None:
    """A Tekton TaskRun pod (a customer build in a Kata VM) on ``node``."""
    spec = world.nodes[node].spec
    run_id = world.unique_name(r.PODS, BUILD_NAMESPACE, "build-", "-buildah-pod").removesuffix("-buildah-pod")
    remote = spec.peer_pods and world.rng.random() < 0.5
    labels = {
        "app.kubernetes.io/managed-by": "tekton-pipelines",
        "tekton.dev/pipelineRun": run_id,
        "tekton.dev/taskRun": f"{run_id}-buildah",
        "tekton.dev/task": "buildah",
        "tekton.dev/pipelineTask": "build",
    }
    ref = builders.owner("TaskRun", "tekton.dev/v1", f"{run_id}-buildah", world.new_uid())
    pod = builders.pod(
        name=f"{run_id}-buildah-pod",
        namespace=BUILD_NAMESPACE,
        node_name=node,
        labels=labels,
        image="quay.io/buildah/stable:v1.38.1",
        container="step-build-and-push",
        owner_ref=ref,
        runtime_class="kata-remote" if remote else "kata-qemu",
        cpu="2",
        memory="4Gi",
        empty_dir=True,
        restart_policy="Never",
    )
    pod["metadata"]["annotations"] = {RUN_SECONDS_ANNOTATION: str(round(world.rng.uniform(*BUILD_SECONDS)))}
    if running:
        pod["status"] = running_status(world, pod)
    entry = world.store.create(r.PODS, pod)
    if remote:
        world.store.create(
            r.PEERPODS, builders.peer_pod(entry.obj, f"podvm-{pod['metadata']['name']}-{world.suffix(8)}", "ibmcloud")
        )
    if running:
        finish_after(world, entry.obj, float(pod["metadata"]["annotations"][RUN_SECONDS_ANNOTATION]))
    else:
        world.spawn(start_pod(world, BUILD_NAMESPACE, pod["metadata"]["name"]))


def create_app_pod(world: World, app: int, node: str | None, *, running: bool) -> None:
    """One replica of a Kata-run service, owned by a ReplicaSet and covered by a PDB.

    With ``node`` None the pod is created unbound and the scheduler places it.
    """
    name = f"app-{app:02d}"
    template_hash = app_template_hash(app)
    pod = builders.pod(
        name=world.unique_name(r.PODS, APP_NAMESPACE, f"{name}-{template_hash}-"),
        namespace=APP_NAMESPACE,
        node_name=node,
        labels={"app": name, "pod-template-hash": template_hash},
        image=APP_IMAGE.format(name),
        container=name,
        owner_ref=builders.owner(
            "ReplicaSet", "apps/v1", f"{name}-{template_hash}", f"00000000-0000-4000-8000-{app:012d}"
        ),
        runtime_class="kata-qemu",
    )
    if not world.controllers:
        del pod["metadata"]["ownerReferences"]  # the real ReplicaSet adopts it (a made-up owner uid is garbage)
    if running:
        pod["status"] = running_status(world, pod)
    world.store.create(r.PODS, pod)
    if not running:
        world.spawn(start_pod(world, APP_NAMESPACE, pod["metadata"]["name"]))


def app_template_hash(app: int) -> str:
    """The pod-template-hash of app ``app``'s ReplicaSet."""
    return f"{app:02d}7f9c{app % 10}d"


def adopt_pod(world: World, pod: Obj) -> None:
    """A copied pod, running on its node: it finishes after its run-seconds annotation, if any."""
    pod = copy.deepcopy(pod)
    pod["status"] = running_status(world, pod)
    entry = world.store.create(r.PODS, pod)
    run = (pod["metadata"].get("annotations") or {}).get(RUN_SECONDS_ANNOTATION)
    if run is not None:
        finish_after(world, entry.obj, float(run))


def schedule(world: World, pod: Obj) -> str | None:
    """Pick a node for an unbound pod: Ready, uncordoned, matching its selector and handler."""
    handler = _handler_of(world, pod)
    selector = pod["spec"].get("nodeSelector") or {}
    candidates = []
    for name in world.schedulable_nodes(handler):
        labels = (world.node_obj(name) or {}).get("metadata", {}).get("labels", {})
        if all(labels.get(k) == v for k, v in selector.items()):
            candidates.append(name)
    if not candidates:
        return None
    return min(candidates, key=lambda n: (len(world.pods_by_node.get(n, ())), n))


def _handler_of(world: World, pod: Obj) -> str | None:
    rc_name = pod["spec"].get("runtimeClassName")
    if not rc_name:
        return None
    rc = world.store.get(r.RUNTIMECLASSES, "", rc_name)
    return str(rc.obj["handler"]) if rc else rc_name


async def start_pod(world: World, namespace: str, name: str) -> None:
    """Take a new pod from Pending to Running (or to FailedCreatePodSandBox), then maybe to Succeeded.
    The in-memory backend schedules an unbound pod first; on a real API server the scheduler does."""
    entry = world.store.get(r.PODS, namespace, name)
    if entry is None or entry.obj["metadata"]["uid"] in world.pods_started:
        return
    node = entry.obj["spec"].get("nodeName")
    if not node and not world.controllers:
        return  # the real scheduler binds it; its kubelet starts it then
    world.pods_started.add(entry.obj["metadata"]["uid"])
    if not node:
        node = schedule(world, entry.obj)
        if node is None:
            world.record_event(
                entry.obj,
                "FailedScheduling",
                "0/0 nodes are available: no node matches the pod's runtime class and selectors.",
                warning=True,
                component="default-scheduler",
            )
            return
        world.store.mutate(r.PODS, namespace, name, lambda p: p["spec"].__setitem__("nodeName", node))
        world.record_event(
            entry.obj, "Scheduled", f"Successfully assigned {namespace}/{name} to {node}", component="default-scheduler"
        )
    await world.sleep(STARTUP_SECONDS)
    entry = world.store.get(r.PODS, namespace, name)
    if entry is None or entry.obj["metadata"].get("deletionTimestamp"):
        return
    handler = _handler_of(world, entry.obj)
    if handler and handler not in world.node_handlers(node):
        await _fail_sandbox(world, entry.obj, node, handler)
        return
    world.store.mutate(r.PODS, namespace, name, lambda p: p.__setitem__("status", running_status(world, p)))
    world.record_event(
        entry.obj, "Started", f"Started container {entry.obj['spec']['containers'][0]['name']}", host=node
    )
    run = entry.obj["metadata"].get("annotations", {}).get(RUN_SECONDS_ANNOTATION)
    if run is not None:
        finish_after(world, entry.obj, float(run))
    elif entry.obj["spec"].get("restartPolicy") == "Never":
        finish_after(world, entry.obj, COMMAND_SECONDS)  # a one-shot command (a smoke test) exits soon


async def _fail_sandbox(world: World, pod: Obj, node: str, handler: str) -> None:
    message = f'Failed to create pod sandbox: rpc error: code = Unknown desc = failed to get sandbox runtime: no runtime for "{handler}" is configured'
    world.record_event(pod, "FailedCreatePodSandBox", message, warning=True, host=node)
    deadline = pod["spec"].get("activeDeadlineSeconds")
    if deadline is None:
        return
    await world.sleep(float(deadline))
    meta = pod["metadata"]
    if world.store.get(r.PODS, meta["namespace"], meta["name"]) is None:
        return

    def fail(p: Obj) -> None:
        p["status"].update(
            phase="Failed",
            reason="DeadlineExceeded",
            message="Pod was active on the node longer than the specified deadline",
        )

    world.store.mutate(r.PODS, meta["namespace"], meta["name"], fail)
    world.record_event(
        pod,
        "DeadlineExceeded",
        "Pod was active on the node longer than the specified deadline",
        warning=True,
        host=node,
    )


def finish_after(world: World, pod: Obj, sim_seconds: float) -> None:
    """Have ``pod`` run to completion ``sim_seconds`` from now (one timer heap, not a task per pod)."""
    meta = pod["metadata"]
    due = time.monotonic() + sim_seconds / world.time_scale
    heapq.heappush(world.finishing, (due, meta["namespace"], meta["name"], meta.get("uid", "")))  # "": any uid


async def finish_due_pods(world: World) -> None:
    """Complete the pods whose run time is over, forever."""
    while True:
        now = time.monotonic()
        while world.finishing and world.finishing[0][0] <= now:
            _, namespace, name, uid = heapq.heappop(world.finishing)
            entry = world.store.get(r.PODS, namespace, name)
            if entry is not None and uid in ("", entry.obj["metadata"]["uid"]):
                _complete(world, namespace, name)
        await asyncio.sleep(0.1)


def _complete(world: World, namespace: str, name: str) -> None:
    entry = world.store.get(r.PODS, namespace, name)
    if entry is None or entry.obj["metadata"].get("deletionTimestamp"):
        return

    def complete(p: Obj) -> None:
        at = world.stamp()
        p["status"]["phase"] = "Succeeded"
        set_ready(p, False)
        for cs in p["status"].get("containerStatuses", []):
            started = cs.get("state", {}).get("running", {}).get("startedAt", at)
            cs["state"] = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": at}}
            cs["started"] = False

    world.store.mutate(r.PODS, namespace, name, complete)


def delete_pod(world: World, namespace: str, name: str, grace: int | None) -> Obj:
    """Delete gracefully: mark the pod terminating, then remove it once its containers stop."""
    entry = world.store.require(r.PODS, namespace, name)
    pod = entry.obj
    if grace is None:
        grace = int(pod["spec"].get("terminationGracePeriodSeconds", 30))
    phase = pod.get("status", {}).get("phase")
    if grace == 0 or phase in ("Succeeded", "Failed", "Pending") or not pod["spec"].get("nodeName"):
        removed = world.store.delete(r.PODS, namespace, name)
        world.pod_removed(removed.obj)
        return removed.obj
    if pod["metadata"].get("deletionTimestamp"):
        return pod

    def terminate(p: Obj) -> None:
        p["metadata"]["deletionTimestamp"] = world.stamp()
        p["metadata"]["deletionGracePeriodSeconds"] = grace
        set_ready(p, False)

    marked = world.store.mutate(r.PODS, namespace, name, terminate)
    world.record_event(
        pod, "Killing", f"Stopping container {pod['spec']['containers'][0]['name']}", host=pod["spec"].get("nodeName")
    )
    world.spawn(remove_after(world, namespace, name, pod["metadata"]["uid"], min(float(grace), 2.0)))
    return marked.obj


async def remove_after(world: World, namespace: str, name: str, uid: str, seconds: float) -> None:
    """The kubelet's end of a graceful deletion: once the containers stop, the pod goes."""
    await world.sleep(seconds)
    entry = world.store.get(r.PODS, namespace, name)
    if entry is None or entry.obj["metadata"]["uid"] != uid:
        return
    removed = world.store.delete(r.PODS, namespace, name)
    world.pod_removed(removed.obj)


async def churn_builds(world: World, interval: float = 60.0) -> None:
    """Keep builds flowing: finished builds are cleaned up and new ones arrive on schedulable nodes."""
    target = sum(n.builds for n in world.fleet.nodes)
    copied = world.fleet.workloads is not None  # copied builds live in their own namespaces
    while True:
        await world.tick(interval, floor=1.0)
        running = 0
        finished: list[tuple[str, str]] = []
        for key, entry in world.store.scan(r.PODS, None if copied else BUILD_NAMESPACE):
            if copied and RUN_SECONDS_ANNOTATION not in (entry.obj["metadata"].get("annotations") or {}):
                continue
            phase = entry.obj.get("status", {}).get("phase")
            if phase in ("Succeeded", "Failed"):
                finished.append(key)
            elif not entry.obj["metadata"].get("deletionTimestamp"):
                running += 1
        for ns, name in finished[: max(0, len(finished) - target // 10)]:
            removed = world.store.delete(r.PODS, ns, name)
            world.pod_removed(removed.obj)
        nodes = world.schedulable_nodes("kata-qemu")
        for _ in range(min(max(0, target - running), max(1, target // 20))):
            if not nodes:
                break
            create_build_pod(world, _least_loaded(world, nodes), running=False)


def _least_loaded(world: World, nodes: list[str]) -> str:
    """Where the scheduler's LeastAllocated scoring would put a new pod: a node with the fewest
    pods (ties at random), so an emptied node fills up first."""
    fewest = min(len(world.pods_by_node.get(n, ())) for n in nodes)
    return world.rng.choice([n for n in nodes if len(world.pods_by_node.get(n, ())) == fewest])
