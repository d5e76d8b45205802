"""kata-deploy: the DaemonSet controller and what an install does to a node.

Under ``OnDelete`` (the default here), changing the DaemonSet's image changes nothing until a
node's kata-deploy pod is deleted; the controller then recreates it from the current template,
and that node installs the template's release. Under ``RollingUpdate`` the controller replaces
pods one at a time. An install claims the node (label ``false``), copies artifacts for a
per-arch delay, restarts containerd (the node is briefly NotReady), and then the node reports
the new release in its label, its ``runtimeHandlers`` and the node reporter's annotations.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from simulator import builders, kata
from simulator import resources as r
from simulator.installmode import LABEL_DS_PREFIX, LABEL_NAMESPACE, InstallMode, helm_marks, job_templates
from simulator.kubelet import running_status, set_ready
from simulator.objectstore import Obj, WatchEvent

if TYPE_CHECKING:
    from simulator.fleet import NodeSpec
    from simulator.world import World

from simulator.fleet import RELEASE_MIX
from simulator.world import CAA_NAMESPACE, MONITOR_NAMESPACE

DEPLOY_NS, DEPLOY_NAME = "kube-system", "kata-deploy"
PULL_SECONDS = 2.0
RESTART_SECONDS = 5.0  # containerd restart: the node is NotReady this long
REPORTER_SECONDS = 1.0  # the node reporter notices the new release this much later
_GENERATION_OF = {version: i + 1 for i, (version, _) in enumerate(RELEASE_MIX)}

DAEMONSETS: tuple[tuple[str, str, str, str, str, dict[str, str] | None], ...] = (
    (DEPLOY_NAME, DEPLOY_NS, "kube-kata", "OnDelete", "deploy", None),
    (
        "kata-monitor",
        MONITOR_NAMESPACE,
        "kata-monitor",
        "RollingUpdate",
        "quay.io/kata-containers/kata-monitor:4.0.0",
        None,
    ),
    (
        "cloud-api-adaptor-daemonset",
        CAA_NAMESPACE,
        "cloud-api-adaptor-con",
        "RollingUpdate",
        f"{kata.CAA_IMAGE}:v0.21.0",
        {kata.LABEL_PEER_PODS: "true"},
    ),
)


def daemonset_object(world: World, name: str) -> Obj:
    """The DaemonSet ``name`` of ``DAEMONSETS`` (kata-deploy at the fleet's template release)."""
    _, ns, container, strategy, image, selector = next(d for d in DAEMONSETS if d[0] == name)
    labels = {"name": name} if name != "cloud-api-adaptor-daemonset" else {"app": "cloud-api-adaptor"}
    if image == "deploy":
        image = kata.deploy_image(world.fleet.template_version)
        if world.install.mode is InstallMode.ROLLING:
            strategy = "RollingUpdate"
    ds = builders.daemonset(
        name, ns, labels=labels, image=image, container=container, strategy=strategy, node_selector=selector
    )
    if name == DEPLOY_NAME:
        ds["metadata"]["generation"] = _GENERATION_OF.get(world.fleet.template_version, 1)
        if world.install.helm:
            helm_marks(ds, world.fleet.template_version)
    return ds


def installer_daemonset(world: World, version: str) -> Obj:
    """The ``label`` mode's installer of ``version``: it runs on the nodes whose install label names it."""
    name = LABEL_DS_PREFIX + version.replace(".", "-")
    labels = {"name": "kata-installer", "fleetctl.io/release": version}
    ds = builders.daemonset(
        name, LABEL_NAMESPACE, labels=labels, image=kata.deploy_image(version), container="kube-kata",
        strategy="OnDelete", node_selector={world.install.label: version},
    )  # fmt: skip
    ds["spec"]["template"]["spec"]["serviceAccountName"] = "kata-installer-sa"
    return ds


def daemonsets(world: World) -> list[Obj]:
    """The world's DaemonSets: kata-deploy (not in the ``job`` and ``label`` modes), kata-monitor, the
    Cloud API Adaptor, and in the ``label`` mode an installer per release."""
    mode = world.install.mode
    out = [
        daemonset_object(world, name)
        for name, *_ in DAEMONSETS
        if name != DEPLOY_NAME or mode in (InstallMode.ONDELETE, InstallMode.ROLLING)
    ]
    if mode is InstallMode.LABEL:
        out += [installer_daemonset(world, version) for version in kata.RELEASES]
    return out


def daemonset_keys(world: World) -> list[tuple[str, str]]:
    """(namespace, name) of the world's DaemonSets."""
    return [(ds["metadata"]["namespace"], ds["metadata"]["name"]) for ds in daemonsets(world)]


def is_installer(ds_name: str) -> bool:
    """A DaemonSet whose new pod installs its image's release on its node."""
    return ds_name == DEPLOY_NAME or ds_name.startswith(LABEL_DS_PREFIX)


def extra_objects(world: World) -> list[tuple[r.ResourceType, Obj]]:
    """What the install mode adds at the start: the ``job`` mode's templates, the ``label`` mode's namespace."""
    if world.install.mode is InstallMode.JOB:
        return [(r.CONFIGMAPS, job_templates(world.install, world.fleet.template_version))]
    if world.install.mode is InstallMode.LABEL:
        return [
            (r.NAMESPACES, builders.namespace(LABEL_NAMESPACE)),
            (r.SERVICEACCOUNTS, builders.service_account("default", LABEL_NAMESPACE)),
            (r.SERVICEACCOUNTS, builders.service_account("kata-installer-sa", LABEL_NAMESPACE)),
        ]
    return []


def create_daemonsets(world: World) -> None:
    """kata-deploy (OnDelete, at the fleet's template release), kata-monitor and the Cloud API
    Adaptor (or what the install mode has instead), with the in-memory DaemonSet controller's behaviour."""
    for rt, obj in extra_objects(world):
        world.store.create(rt, obj)
    for ds in daemonsets(world):
        world.store.create(r.DAEMONSETS, ds)
    world.store.listeners.append(lambda event: _on_daemonset_change(world, event))
    world.spawn(_reconcile_status_forever(world))
    if world.install.mode is InstallMode.ROLLING:  # as a real controller does: the nodes behind the template follow
        world.spawn(_rolling_update(world, DEPLOY_NS, DEPLOY_NAME))


def _daemonsets_for(world: World, spec: NodeSpec, daemonsets: list[Obj]) -> list[Obj]:
    out = []
    for ds in daemonsets:
        selector = ds["spec"]["template"]["spec"].get("nodeSelector") or {}
        if selector.get(kata.LABEL_PEER_PODS) and not spec.peer_pods:
            continue
        if ds["metadata"]["name"] == "kata-monitor" and not spec.kata_monitor:
            continue
        if ds["metadata"]["name"].startswith(LABEL_DS_PREFIX) and selector.get(world.install.label) != spec.release:
            continue
        out.append(ds)
    return out


def node_pods(world: World, spec: NodeSpec, daemonsets: list[Obj]) -> list[Obj]:
    """A node's DaemonSet pods at the start, running: kata-deploy at the node's own release (OnDelete history)."""
    out = []
    for ds in _daemonsets_for(world, spec, daemonsets):
        image = kata.deploy_image(spec.release) if ds["metadata"]["name"] == DEPLOY_NAME else None
        pod = _daemon_pod(world, ds, spec.name, image=image)
        pod["status"] = running_status(world, pod)
        out.append(pod)
    return out


def create_node_pods(world: World, spec: NodeSpec) -> None:
    """The DaemonSet pods of a node at start, in the in-memory store."""
    daemonsets = [
        e.obj for ns, name in daemonset_keys(world) if (e := world.store.get(r.DAEMONSETS, ns, name)) is not None
    ]
    for pod in node_pods(world, spec, daemonsets):
        world.store.create(r.PODS, pod)


def _daemon_pod(world: World, ds: Obj, node: str, *, image: str | None = None) -> Obj:
    template = ds["spec"]["template"]
    container = template["spec"]["containers"][0]
    used_image = image or container["image"]
    generation = ds["metadata"].get("generation", 1)
    if image and ds["metadata"]["name"] == DEPLOY_NAME:
        generation = _GENERATION_OF.get(kata.image_version(image), generation)
    labels = dict(template["metadata"]["labels"])
    labels.update(
        {
            "controller-revision-hash": f"{abs(hash(used_image)) % 10**10:010d}",
            "pod-template-generation": str(generation),
        }
    )
    pod = builders.pod(
        name=world.unique_name(r.PODS, ds["metadata"]["namespace"], f"{ds['metadata']['name']}-"),
        namespace=ds["metadata"]["namespace"],
        node_name=node,
        labels=labels,
        image=used_image,
        container=container["name"],
        owner_ref=builders.owner("DaemonSet", "apps/v1", ds["metadata"]["name"], ds["metadata"]["uid"])
        if ds["metadata"].get("uid")
        else None,  # a real DaemonSet controller adopts it and writes the reference itself
    )
    pod["spec"]["serviceAccountName"] = template["spec"].get("serviceAccountName", "default")
    pod["spec"]["tolerations"] = [{"operator": "Exists"}]
    pod["spec"]["hostPID"] = True
    return pod


def on_daemon_pod_removed(world: World, pod: Obj) -> None:
    """The DaemonSet controller recreates a deleted pod from the current template, if the node still qualifies."""
    ds_name = pod["metadata"]["ownerReferences"][0]["name"]
    node = pod["spec"].get("nodeName")
    ds_entry = world.store.get(r.DAEMONSETS, pod["metadata"]["namespace"], ds_name)
    node_obj = world.node_obj(node) if node in world.nodes else None
    if ds_entry is None or node_obj is None:
        return
    if ds_name == DEPLOY_NAME:
        world.stats.kata_deploy_pod_deletions[node] += 1
    if ds_name.startswith(LABEL_DS_PREFIX) and not selects(ds_entry.obj, node_obj):
        return  # the node's install label moved on: this installer no longer runs there
    start_daemon_pod(world, ds_entry.obj, node)


def selects(ds: Obj, node: Obj) -> bool:
    """The DaemonSet's nodeSelector matches the node's labels."""
    selector = ds["spec"]["template"]["spec"].get("nodeSelector") or {}
    labels = node["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def start_daemon_pod(world: World, ds: Obj, node: str) -> None:
    """Create the DaemonSet's pod on ``node`` from its current template, and start it (an installer installs)."""
    new_pod = _daemon_pod(world, ds, node)
    world.store.create(r.PODS, new_pod)
    if is_installer(ds["metadata"]["name"]):
        meta = new_pod["metadata"]
        version = kata.image_version(new_pod["spec"]["containers"][0]["image"])
        world.spawn(install(world, node, meta["name"], version, namespace=meta["namespace"]))
    else:
        world.spawn(start_plain(world, new_pod["metadata"]["namespace"], new_pod["metadata"]["name"]))


async def start_plain(world: World, namespace: str, name: str) -> None:
    """A DaemonSet pod other than kata-deploy: it runs once its image is pulled."""
    await world.sleep(PULL_SECONDS)
    if world.store.get(r.PODS, namespace, name) is not None:
        world.store.mutate(r.PODS, namespace, name, lambda p: p.__setitem__("status", running_status(world, p)))


class InstallResult(StrEnum):
    """How an install pod's work ended."""

    INSTALLED = "installed"
    FAILED = "failed"  # the install script failed (an injected fault)


async def install(
    world: World,
    node: str,
    pod_name: str,
    version: str,
    *,
    namespace: str = DEPLOY_NS,
    finished: Callable[[InstallResult], None] | None = None,
) -> None:
    """What a fresh kata-deploy pod does on ``node``: install ``version``, or fail trying.

    A DaemonSet's pod (``finished`` None) claims the node's ``katacontainers.io/kata-runtime``
    label, crash-loops on a failure and stays Running and Ready after a success. A Job's pod
    (``finished`` given, which ends the pod) leaves that label alone: the dispatcher sets it.
    """
    truth = world.nodes[node]
    truth.install_generation += 1
    generation = truth.install_generation
    daemon = finished is None

    def current() -> bool:
        return truth.install_generation == generation and world.store.get(r.PODS, namespace, pod_name) is not None

    await world.sleep(PULL_SECONDS)
    if not current():
        return
    pod_entry = world.store.require(r.PODS, namespace, pod_name)
    if version not in kata.RELEASES:
        _image_pull_failed(world, pod_entry.obj, node)
        return
    world.store.mutate(
        r.PODS, namespace, pod_name, lambda p: p.__setitem__("status", running_status(world, p, ready=False))
    )
    container = pod_entry.obj["spec"]["containers"][0]["name"]
    world.record_event(pod_entry.obj, "Started", f"Started container {container}", host=node)
    if daemon:
        _label(world, node, kata.LABEL_RUNTIME, "false")  # 4.1 semantics: claimed, not yet ready
    spec = truth.spec
    fails = world.rng.random() < world.faults.install_failure_rate(spec.arch, version)
    delay = world.faults.installDelaySeconds.get(spec.arch, 30.0) * world.rng.uniform(0.9, 1.1)
    await world.sleep(delay * (0.5 if fails else 1.0))
    if not current():
        return
    if fails:
        world.stats.install_failures[node] += 1
        if finished is None:
            _crash_loop(world, pod_name, node, namespace)
        else:
            finished(InstallResult.FAILED)
        return
    _set_node_ready(world, node, False, "container runtime is restarting (containerd reload by kata-deploy)")
    await world.sleep(RESTART_SECONDS)
    if not current():
        _set_node_ready(world, node, True)
        return
    truth.installed = version
    world.stats.installs[node] += 1
    release = kata.RELEASES[version]
    handlers = kata.handlers_for(
        version, spec.arch, peer_pods=spec.peer_pods, secure_execution=spec.secure_execution, labels=spec.labels
    )

    def installed(n: Obj) -> None:
        if daemon:
            n["metadata"]["labels"][kata.LABEL_RUNTIME] = "true"
        n["metadata"]["labels"][kata.LABEL_DEFAULT] = "true"
        n["status"]["runtimeHandlers"] = kata.runtime_handlers_status(handlers)
        _ready_condition(world, n, True, None)

    world.store.mutate(r.NODES, "", node, installed)
    if finished is None:
        world.store.mutate(r.PODS, namespace, pod_name, lambda p: set_ready(p, True))
    else:
        finished(InstallResult.INSTALLED)
    await world.sleep(REPORTER_SECONDS)
    if truth.installed == version:
        annotations = kata.reported(release, spec, world.stamp())
        world.store.mutate(r.NODES, "", node, lambda n: n["metadata"]["annotations"].update(annotations))


def _image_pull_failed(world: World, pod: Obj, node: str) -> None:
    image = pod["spec"]["containers"][0]["image"]

    def backoff(p: Obj) -> None:
        p["status"]["containerStatuses"] = [
            {
                "name": pod["spec"]["containers"][0]["name"],
                "ready": False,
                "restartCount": 0,
                "image": image,
                "imageID": "",
                "started": False,
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{image}"'}},
                "lastState": {},
            }
        ]

    world.store.mutate(r.PODS, pod["metadata"]["namespace"], pod["metadata"]["name"], backoff)
    world.record_event(pod, "Failed", f'Failed to pull image "{image}": not found', warning=True, host=node)


def _crash_loop(world: World, pod_name: str, node: str, namespace: str) -> None:
    def crash(p: Obj) -> None:
        at = world.stamp()
        for cs in p["status"].get("containerStatuses", []):
            cs["restartCount"] = cs.get("restartCount", 0) + 1
            cs["ready"] = False
            cs["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": at, "finishedAt": at}}
            cs["state"] = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": "back-off 10s restarting failed container=kube-kata",
                }
            }
        set_ready(p, False)

    entry = world.store.mutate(r.PODS, namespace, pod_name, crash)
    world.record_event(
        entry.obj,
        "BackOff",
        f"Back-off restarting failed container kube-kata in pod {pod_name}_{namespace}",
        warning=True,
        host=node,
    )


def _label(world: World, node: str, key: str, value: str) -> None:
    world.store.mutate(r.NODES, "", node, lambda n: n["metadata"]["labels"].__setitem__(key, value))


def _ready_condition(world: World, node_obj: Obj, ready: bool, message: str | None) -> None:
    at = world.stamp()
    for cond in node_obj["status"]["conditions"]:
        if cond["type"] == "Ready":
            status = "True" if ready else "False"
            if cond["status"] != status:
                cond["lastTransitionTime"] = at
            cond.update(status=status, lastHeartbeatTime=at)
            cond["reason"] = "KubeletReady" if ready else "KubeletNotReady"
            cond["message"] = "kubelet is posting ready status" if ready else (message or "container runtime is down")


def _set_node_ready(world: World, node: str, ready: bool, message: str | None = None) -> None:
    world.store.mutate(r.NODES, "", node, lambda n: _ready_condition(world, n, ready, message))


def _on_daemonset_change(world: World, event: WatchEvent) -> None:
    if event.key != r.DAEMONSETS.key or event.type != "MODIFIED" or event.old is None:
        return
    new, old = event.entry.obj, event.old.obj
    if new["spec"].get("template") == old["spec"].get("template"):
        return
    if new["spec"].get("updateStrategy", {}).get("type") == "RollingUpdate":
        world.spawn(_rolling_update(world, new["metadata"]["namespace"], new["metadata"]["name"]))


async def _rolling_update(world: World, namespace: str, name: str) -> None:
    """Replace the DaemonSet's outdated pods one at a time (maxUnavailable 1); one rollout per DaemonSet
    at a time, which follows the newest template."""
    if (namespace, name) in world.rollouts:
        return
    world.rollouts.add((namespace, name))
    try:
        await _roll(world, namespace, name)
    finally:
        world.rollouts.discard((namespace, name))


async def _roll(world: World, namespace: str, name: str) -> None:
    from simulator.kubelet import delete_pod, is_ready

    while True:
        ds = world.store.get(r.DAEMONSETS, namespace, name)
        if ds is None:
            return
        generation = str(ds.obj["metadata"].get("generation", 1))
        outdated = [
            e.obj
            for _, e in world.store.scan(r.PODS, namespace)
            if e.obj["metadata"].get("ownerReferences", [{}])[0].get("name") == name
            and e.obj["metadata"]["labels"].get("pod-template-generation") != generation
            and not e.obj["metadata"].get("deletionTimestamp")
        ]
        if not outdated:
            return
        pod = outdated[0]
        node = pod["spec"]["nodeName"]
        delete_pod(world, namespace, pod["metadata"]["name"], 0)
        while True:
            await world.sleep(1.0)
            fresh = [
                e.obj
                for e in world.pods_on(node)
                if e.obj["metadata"].get("ownerReferences", [{}])[0].get("name") == name
            ]
            if (
                not fresh
                or is_ready(fresh[0])
                or any("waiting" in cs.get("state", {}) for cs in fresh[0]["status"].get("containerStatuses", []))
            ):
                break


async def _reconcile_status_forever(world: World) -> None:
    while True:
        await world.tick(2.0, floor=0.5)
        reconcile_daemonset_status(world)


def _set_status(status: dict[str, Any]) -> Callable[[Obj], None]:
    def change(obj: Obj) -> None:
        obj["status"] = status

    return change


def reconcile_daemonset_status(world: World) -> None:
    """Recompute each DaemonSet's status counts from its pods."""
    from simulator.kubelet import is_ready

    for ns, name in daemonset_keys(world):
        entry = world.store.get(r.DAEMONSETS, ns, name)
        if entry is None:
            continue
        ds = entry.obj
        generation = str(ds["metadata"].get("generation", 1))
        image = ds["spec"]["template"]["spec"]["containers"][0]["image"]
        pods = [
            e.obj
            for _, e in world.store.scan(r.PODS, ns)
            if e.obj["metadata"].get("ownerReferences", [{}])[0].get("name") == name
        ]
        desired = sum(
            1
            for t in world.nodes.values()
            if ds["spec"]["template"]["spec"].get("nodeSelector") is None or t.spec.peer_pods
        )
        if name == "kata-monitor":
            desired = sum(1 for t in world.nodes.values() if t.spec.kata_monitor)
        elif name.startswith(LABEL_DS_PREFIX):
            desired = sum(1 for n in world.nodes if (obj := world.node_obj(n)) is not None and selects(ds, obj))
        ready = sum(1 for p in pods if is_ready(p))
        updated = sum(
            1
            for p in pods
            if p["spec"]["containers"][0]["image"] == image
            or p["metadata"]["labels"].get("pod-template-generation") == generation
        )
        status: dict[str, Any] = {
            "currentNumberScheduled": len(pods),
            "numberMisscheduled": 0,
            "desiredNumberScheduled": desired,
            "numberReady": ready,
            "observedGeneration": ds["metadata"].get("generation", 1),
            "updatedNumberScheduled": updated,
            "numberAvailable": ready,
        }
        if desired - ready:
            status["numberUnavailable"] = desired - ready
        if ds.get("status") != status:
            world.store.mutate(r.DAEMONSETS, ns, name, _set_status(status))
