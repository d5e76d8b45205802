"""batch/v1 Jobs: the API server's defaulting, the in-memory Job controller, and what a Job's
kata-deploy pod does on its node (on both backends).

The controller (in-memory backend only; a real control plane runs its own) makes one pod at a
time from ``spec.template`` until one succeeds (``Complete``) or ``backoffLimit + 1`` have failed
(``Failed``, ``BackoffLimitExceeded``), waits 10 s, 20 s, ... between a failure and the next pod,
and deletes a finished Job (and its pods) ``ttlSecondsAfterFinished`` later. A pod of a Job whose
image is kata-deploy's installs that release on its node (``installer.install``, without the
``katacontainers.io/kata-runtime`` label: the dispatcher sets it) and then exits 0, or 1 when the
install fails.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from simulator import builders, installer, kata, kubelet
from simulator import resources as r
from simulator.installer import InstallResult
from simulator.objectstore import ApiError, Obj, WatchEvent

if TYPE_CHECKING:
    from simulator.world import World

JOB_NAME, CONTROLLER_UID = "batch.kubernetes.io/job-name", "batch.kubernetes.io/controller-uid"
BACKOFF_SECONDS, MAX_BACKOFF_SECONDS = 10.0, 360.0
_TERMINAL = ("Succeeded", "Failed")


class JobState(StrEnum):
    """Where a Job is."""

    RUNNING = "Running"
    COMPLETE = "Complete"
    FAILED = "Failed"


class Propagation(StrEnum):
    """A delete's ``propagationPolicy``."""

    ORPHAN = "Orphan"
    BACKGROUND = "Background"
    FOREGROUND = "Foreground"


# -- the API server's part ------------------------------------------------------------------


def admit(job: Obj, uid: str) -> None:
    """Validate a new Job and fill in what the API server defaults: the selector, the pod labels
    that tie pods to it, and the spec's defaults."""
    spec = job.get("spec")
    template = spec.get("template") if isinstance(spec, dict) else None
    pod_spec = template.get("spec") if isinstance(template, dict) else None
    name = job["metadata"].get("name") or job["metadata"].get("generateName", "")
    if not isinstance(pod_spec, dict) or not pod_spec.get("containers"):
        raise ApiError(422, "Invalid", f'Job.batch "{name}" is invalid: spec.template.spec.containers: Required value')
    if pod_spec.get("restartPolicy") not in ("Never", "OnFailure"):
        raise ApiError(
            422,
            "Invalid",
            f'Job.batch "{name}" is invalid: spec.template.spec.restartPolicy: Required value: '
            'valid values: "OnFailure", "Never"',
        )
    assert isinstance(spec, dict) and isinstance(template, dict)
    job["metadata"]["uid"] = uid
    tie = {CONTROLLER_UID: uid, "controller-uid": uid}
    if job["metadata"].get("name"):
        tie.update({JOB_NAME: job["metadata"]["name"], "job-name": job["metadata"]["name"]})
    template.setdefault("metadata", {}).setdefault("labels", {}).update(tie)
    spec.setdefault("selector", {"matchLabels": {CONTROLLER_UID: uid}})
    for key, value in (
        ("parallelism", 1), ("completions", 1), ("backoffLimit", 6), ("completionMode", "NonIndexed"),
        ("suspend", False), ("podReplacementPolicy", "TerminatingOrFailed"), ("manualSelector", False),
    ):  # fmt: skip
        spec.setdefault(key, value)
    job["status"] = {}


def propagation(body: Obj, query: dict[str, str]) -> Propagation:
    """A Job delete's propagation policy: Orphan unless asked (batch/v1's default, as kubectl's
    ``--cascade=background`` and client libraries ask for Background)."""
    raw = query.get("propagationPolicy") or body.get("propagationPolicy")
    if raw is None and body.get("orphanDependents") is False:
        raw = Propagation.BACKGROUND
    try:
        return Propagation(raw or Propagation.ORPHAN)
    except ValueError:
        raise ApiError(400, "BadRequest", f"invalid propagationPolicy {raw!r}") from None


def deleted(world: World, job: Obj, policy: Propagation) -> None:
    """The garbage collector's part after a Job is deleted: its pods go, or lose their owner."""
    uid = job["metadata"]["uid"]
    for pod in owned_pods(world, job["metadata"]["namespace"], uid):
        meta = pod["metadata"]
        if policy is Propagation.ORPHAN:
            world.store.mutate(r.PODS, meta["namespace"], meta["name"], _orphan(uid))
        else:
            kubelet.delete_pod(world, meta["namespace"], meta["name"], None)


def _orphan(uid: str) -> Any:
    def change(p: Obj) -> None:
        refs = [ref for ref in p["metadata"].get("ownerReferences") or [] if ref.get("uid") != uid]
        if refs:
            p["metadata"]["ownerReferences"] = refs
        else:
            p["metadata"].pop("ownerReferences", None)

    return change


def owned_pods(world: World, namespace: str, uid: str) -> list[Obj]:
    """The pods whose controller is the Job ``uid``."""
    return [
        e.obj
        for _, e in world.store.scan(r.PODS, namespace)
        if any(ref.get("uid") == uid for ref in e.obj["metadata"].get("ownerReferences") or [])
    ]


def state(job: Obj) -> JobState:
    """Complete, Failed or still running."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("status") == "True" and cond.get("type") in (JobState.COMPLETE, JobState.FAILED):
            return JobState(cond["type"])
    return JobState.RUNNING


# -- a Job's kata-deploy pod (both backends) --------------------------------------------------


def is_install_pod(pod: Obj) -> bool:
    """A pod a Job owns that runs a kata-deploy image."""
    refs = pod["metadata"].get("ownerReferences") or [{}]
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    return refs[0].get("kind") == "Job" and kata.is_deploy_image(str(containers[0].get("image", "")))


def run_install(world: World, pod: Obj) -> None:
    """Start the install a Job's kata-deploy pod does on its node; the pod then ends Succeeded or Failed."""
    meta, node = pod["metadata"], pod["spec"]["nodeName"]
    namespace, name = meta["namespace"], meta["name"]
    version = kata.image_version(pod["spec"]["containers"][0]["image"])
    world.pods_started.add(meta.get("uid", ""))

    def finished(result: InstallResult) -> None:
        if world.store.get(r.PODS, namespace, name) is not None:
            world.store.mutate(r.PODS, namespace, name, _terminate(world, node, result))

    world.spawn(installer.install(world, node, name, version, namespace=namespace, finished=finished))


def _terminate(world: World, node: str, result: InstallResult) -> Any:
    def change(p: Obj) -> None:
        at = world.stamp()
        ok = result is InstallResult.INSTALLED
        p["status"]["phase"] = "Succeeded" if ok else "Failed"
        for cond in p["status"].get("conditions", []):
            if cond["type"] in ("Ready", "ContainersReady"):
                cond.update(status="False", reason="PodCompleted" if ok else "PodFailed", lastTransitionTime=at)
        for cs in p["status"].get("containerStatuses", []):
            started = cs.get("state", {}).get("running", {}).get("startedAt", at)
            terminated: Obj = {"exitCode": 0 if ok else 1, "reason": "Completed" if ok else "Error"}
            if not ok:
                terminated["message"] = f"kata-deploy: install failed on {node}"
            terminated.update(startedAt=started, finishedAt=at, containerID=cs.get("containerID", ""))
            cs.update(state={"terminated": terminated}, ready=False, started=False)

    return change


# -- the in-memory Job controller --------------------------------------------------------------


@dataclass
class _Tally:
    counted: set[str] = field(default_factory=set)  # pod uids already counted as succeeded or failed
    succeeded: int = 0
    failed: int = 0
    creating: bool = False


class JobController:
    """The in-memory backend's Job controller and the TTL-after-finished controller."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.tallies: dict[str, _Tally] = {}

    def on_event(self, event: WatchEvent) -> None:
        """A Job was created, or one of its pods ended or went."""
        obj = event.entry.obj
        if event.key == r.JOBS.key:
            if event.type == "ADDED":
                self.world.spawn(self._reconcile(obj["metadata"]["namespace"], obj["metadata"]["name"]))
            elif event.type == "DELETED":
                self.tallies.pop(obj["metadata"]["uid"], None)
            return
        if event.key != r.PODS.key:
            return
        ref = next((ref for ref in obj["metadata"].get("ownerReferences") or [] if ref.get("kind") == "Job"), None)
        if ref is None:
            return
        tally = self.tallies.get(ref["uid"])
        if tally is None:
            return
        phase = (obj.get("status") or {}).get("phase")
        was = ((event.old.obj.get("status") or {}).get("phase") if event.old else None) or ""
        if event.type == "DELETED":
            if phase in _TERMINAL or obj["metadata"]["uid"] in tally.counted:
                return  # a finished pod cleaned up: nothing changes
            tally.counted.add(obj["metadata"]["uid"])
            tally.failed += 1  # a pod that went before it finished counts as failed
        elif phase not in _TERMINAL or was in _TERMINAL:
            return
        self.world.spawn(self._reconcile(obj["metadata"]["namespace"], ref["name"]))

    async def _reconcile(self, namespace: str, name: str) -> None:
        world = self.world
        entry = world.store.get(r.JOBS, namespace, name)
        if entry is None or state(entry.obj) is not JobState.RUNNING:
            return
        job = entry.obj
        uid, spec = job["metadata"]["uid"], job["spec"]
        tally = self.tallies.setdefault(uid, _Tally())
        pods = owned_pods(world, namespace, uid)
        for pod in pods:
            phase = (pod.get("status") or {}).get("phase")
            if phase in _TERMINAL and pod["metadata"]["uid"] not in tally.counted:
                tally.counted.add(pod["metadata"]["uid"])
                if phase == "Succeeded":
                    tally.succeeded += 1
                else:
                    tally.failed += 1
        active = [p for p in pods if (p.get("status") or {}).get("phase") not in _TERMINAL]
        at = world.stamp()
        status: Obj = {"startTime": (job.get("status") or {}).get("startTime") or at}
        if tally.succeeded >= int(spec.get("completions") or 1):
            status["completionTime"] = at
            status["conditions"] = [
                _condition("SuccessCriteriaMet", "CompletionsReached", "Reached expected number of succeeded pods", at),
                _condition("Complete", "CompletionsReached", "Reached expected number of succeeded pods", at),
            ]
        elif tally.failed > int(spec.get("backoffLimit", 6)):
            status["conditions"] = [
                _condition("FailureTarget", "BackoffLimitExceeded", "Job has reached the specified backoff limit", at),
                _condition("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit", at),
            ]
            for pod in active:
                kubelet.delete_pod(world, namespace, pod["metadata"]["name"], None)
            active = []
        elif not active and not tally.creating:
            tally.creating = True
            world.spawn(self._create_pod(namespace, name, tally))
        if active or tally.creating:
            status["active"] = len(active) or 1
        status["ready"] = sum(1 for p in active if kubelet.is_ready(p))
        status["terminating"] = 0
        if tally.succeeded:
            status["succeeded"] = tally.succeeded
        if tally.failed:
            status["failed"] = tally.failed
        status["uncountedTerminatedPods"] = {}
        world.store.mutate(r.JOBS, namespace, name, lambda j: j.__setitem__("status", status))
        if "conditions" in status and spec.get("ttlSecondsAfterFinished") is not None:
            world.spawn(self._expire(namespace, name, uid, float(spec["ttlSecondsAfterFinished"])))

    async def _create_pod(self, namespace: str, name: str, tally: _Tally) -> None:
        world = self.world
        if tally.failed:
            await world.sleep(min(MAX_BACKOFF_SECONDS, BACKOFF_SECONDS * 2 ** (tally.failed - 1)))
        tally.creating = False
        entry = world.store.get(r.JOBS, namespace, name)
        if entry is None or state(entry.obj) is not JobState.RUNNING:
            return
        pod = pod_from_template(world, entry.obj)
        world.store.create(r.PODS, pod)
        node = pod["spec"].get("nodeName")
        if node in world.nodes and is_install_pod(pod):
            run_install(world, pod)
        else:
            world.spawn(kubelet.start_pod(world, namespace, pod["metadata"]["name"]))
        await self._reconcile(namespace, name)

    async def _expire(self, namespace: str, name: str, uid: str, ttl: float) -> None:
        await self.world.sleep(ttl)
        entry = self.world.store.get(r.JOBS, namespace, name)
        if entry is not None and entry.obj["metadata"]["uid"] == uid:
            gone = self.world.store.delete(r.JOBS, namespace, name)
            deleted(self.world, gone.obj, Propagation.BACKGROUND)


def _condition(type_: str, reason: str, message: str, at: str) -> Obj:
    return {
        "type": type_, "status": "True", "lastProbeTime": at, "lastTransitionTime": at,
        "reason": reason, "message": message,
    }  # fmt: skip


def pod_from_template(world: World, job: Obj) -> Obj:
    """A pod of ``job``, as the Job controller makes it (bound where the template says, or by the
    in-memory scheduler)."""
    meta, template = job["metadata"], job["spec"]["template"]
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    labels.update(
        {JOB_NAME: meta["name"], "job-name": meta["name"], CONTROLLER_UID: meta["uid"], "controller-uid": meta["uid"]}
    )
    spec = copy.deepcopy(template["spec"])
    for key, value in (
        ("terminationGracePeriodSeconds", 30), ("dnsPolicy", "ClusterFirst"), ("schedulerName", "default-scheduler"),
        ("serviceAccountName", "default"), ("securityContext", {}), ("enableServiceLinks", True),
    ):  # fmt: skip
        spec.setdefault(key, value)
    for c in spec["containers"]:
        c.setdefault("imagePullPolicy", "IfNotPresent")
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
    pod: Obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": world.unique_name(r.PODS, meta["namespace"], f"{meta['name']}-"),
            "namespace": meta["namespace"],
            "labels": labels,
            "ownerReferences": [builders.owner("Job", "batch/v1", meta["name"], meta["uid"])],
        },
        "spec": spec,
        "status": {"phase": "Pending", "qosClass": builders.qos_class(spec)},
    }
    if annotations := (template.get("metadata") or {}).get("annotations"):
        pod["metadata"]["annotations"] = dict(annotations)
    if not spec.get("nodeName") and is_install_pod(pod):
        node = kubelet.schedule(world, pod)
        if node is not None:
            spec["nodeName"] = node
    return pod


def start(world: World) -> JobController:
    """Run the in-memory Job controller on ``world``'s store."""
    controller = JobController(world)
    world.store.listeners.append(controller.on_event)
    return controller
