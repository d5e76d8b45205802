"""How a node gets the target release: the implementations of ``ports.Installer``, one per
``spec.install.mechanism``: kata-deploy's DaemonSet with ``updateStrategy: OnDelete`` and a
label-gated custom installer here, kata-deploy's job mode in ``upgrades.jobinstall``, and
``ByCluster``, which gives each cluster the mechanism its deployment was found to use."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from store.images import image_for, image_tag
from upgrades.clock import SYSTEM_CLOCK, Clock
from upgrades.deployment import Deployment, helm_owner
from upgrades.flowerrors import NodeFailed
from upgrades.installwait import install_failure, reports_target
from upgrades.jobinstall import JobInstall
from upgrades.planfile import Install, Mechanism
from upgrades.ports import ClusterAPI, DaemonSet, Installer, Pod

WATCH_WINDOW_S = 3.0  # install watches the node this long between looks at the kata-deploy pod
STALE_REDELETES = 2  # a pod at another release than the target is deleted again at most this often
POD_POLL_S = 0.5  # how often install looks at the new pod once the node already reports the target
OBSERVE_POLL_S = 0.1  # how often install asks whether the DaemonSet controller has seen the new template


class DaemonSetInstall:
    """kata-deploy OnDelete: the DaemonSet at the target image (once per cluster and run), then
    each node's pod deleted once, and the node watched until it reports the target with its
    kata-deploy pod at the target and Ready."""

    def __init__(self, conf: Install, pins: dict[str, str], clock: Clock = SYSTEM_CLOCK) -> None:
        self.conf, self.pins, self.clock = conf, pins, clock
        self._lock = threading.Lock()  # one DaemonSet update at a time per run
        self._at_target: dict[str, DaemonSet] = {}  # by cluster: once at the target, not read again

    def install(
        self,
        ops: ClusterAPI,
        node: str,
        target: str,
        *,
        started: Callable[[], None] = lambda: None,
        stop_check: Callable[[], None] = lambda: None,
    ) -> None:
        """``started`` runs once the node's pod is deleted (the "upgrade started" Event): the wait
        after it is idle time, so nothing before the deletion waits on it. ``stop_check`` raises
        when the run is stopping; a resumed install finds the pod at the target and only waits."""
        ds = self._daemonset_at(ops, target)
        selector = ",".join(f"{k}={v}" for k, v in (ds["spec"]["selector"].get("matchLabels") or {}).items())
        pods = [p for p in ops.pods_on(node, selector) if not p["metadata"].get("deletionTimestamp")]
        if not any(image_tag(p["spec"]["containers"][0]["image"]) == target for p in pods):
            for pod in pods:  # the old release's pod: deleting it makes the controller install the target
                ops.delete_pod(pod["metadata"]["namespace"], pod["metadata"]["name"], reason=f"install {target}")
            started()

        reached = reports_target(ops, self.pins, target)

        deadline = self.clock.monotonic() + self.conf.timeout_s
        redeleted = 0
        while (left := deadline - self.clock.monotonic()) > 0:
            at_target = ops.wait_node(node, reached, min(WATCH_WINDOW_S, left)) is not None
            current = [p for p in ops.pods_on(node, selector) if not p["metadata"].get("deletionTimestamp")]
            if at_target and any(
                image_tag(p["spec"]["containers"][0]["image"]) == target and _ready(p) for p in current
            ):
                return  # the node reports the target, and the pod that would reinstall on a restart is at it too
            stop_check()
            if at_target:  # the node is there, its pod not yet: wait_node would answer at once, so pause
                self.clock.sleep(min(POD_POLL_S, max(0.0, deadline - self.clock.monotonic())))
            stale = [p for p in current if image_tag(p["spec"]["containers"][0]["image"]) != target]
            if stale and redeleted < STALE_REDELETES:  # recreated from a template the controller had not yet updated
                redeleted += 1
                for pod in stale:
                    ops.delete_pod(
                        pod["metadata"]["namespace"], pod["metadata"]["name"], reason=f"install {target} (stale pod)"
                    )
                continue
            for pod in current:  # the node has not moved for a window: is kata-deploy failing?
                if failure := install_failure(pod):
                    raise NodeFailed(f"kata-deploy failed on {node}: {failure}"[:500])
        raise NodeFailed(f"{node} did not report Kata {target} within {self.conf.timeout_s:g}s (spec.install.timeout)")

    def _daemonset_at(self, ops: ClusterAPI, target: str) -> DaemonSet:
        conf = self.conf
        with self._lock:
            ds = self._at_target.get(ops.cluster)
            if ds is None or _image(ds) != image_for(_image(ds), target):
                ds = ops.daemonset(conf.namespace, conf.daemonset)
                strategy = (ds["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate")
                if strategy != "OnDelete":  # changed since the run checked it: never roll every node at once
                    raise NodeFailed(
                        f"DaemonSet {conf.namespace}/{conf.daemonset} uses {strategy} now; set updateStrategy OnDelete "
                        "so nodes upgrade one at a time"
                    )
                wanted = image_for(_image(ds), target)
                if _image(ds) != wanted:
                    release, namespace = helm_owner(ds)
                    outside = f" (outside Helm release {namespace}/{release})" if release else ""
                    ops.set_image(ds, wanted, reason=f"roll out {target}{outside}")
                    ds["spec"]["template"]["spec"]["containers"][0]["image"] = wanted
                self._wait_observed(ops, target)
                self._at_target[ops.cluster] = ds
            return ds

    def _wait_observed(self, ops: ClusterAPI, target: str) -> None:
        """Wait until the DaemonSet controller has seen the template at the target
        (``status.observedGeneration`` >= ``metadata.generation``). A pod deleted before that is
        recreated from the old template: the controller's informers see the pod's deletion and the
        DaemonSet's update as separate events, in either order."""
        conf = self.conf
        deadline = self.clock.monotonic() + conf.timeout_s
        while True:
            ds = ops.daemonset(conf.namespace, conf.daemonset)
            generation = ds["metadata"].get("generation")
            observed = (ds.get("status") or {}).get("observedGeneration")
            if generation is None or observed is None or observed >= generation:
                return
            if self.clock.monotonic() > deadline:
                raise NodeFailed(
                    f"the DaemonSet controller did not take DaemonSet {conf.namespace}/{conf.daemonset}'s template "
                    f"for {target} within {conf.timeout_s:g}s (observedGeneration {observed} < generation "
                    f"{generation}): is kube-controller-manager running?"
                )
            self.clock.sleep(OBSERVE_POLL_S)


def _ready(pod: Pod) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _image(ds: DaemonSet) -> str:
    return str(ds["spec"]["template"]["spec"]["containers"][0]["image"])


class LabelInstall:
    """A custom installer gated on a node label: fleetctl sets ``install.label`` to the target on
    the node, and the user's DaemonSet that selects nodes by that label installs it."""

    def __init__(self, conf: Install, pins: dict[str, str], clock: Clock = SYSTEM_CLOCK) -> None:
        self.conf, self.pins, self.clock = conf, pins, clock

    def install(
        self,
        ops: ClusterAPI,
        node: str,
        target: str,
        *,
        started: Callable[[], None] = lambda: None,
        stop_check: Callable[[], None] = lambda: None,
    ) -> None:
        """Set the label (unless it is set already: a resumed step), then wait for the node to report the target."""
        key = self.conf.label
        if (ops.node(node)["metadata"].get("labels") or {}).get(key) != target:
            ops.label_node(node, key, target, reason=f"install {target}")
            started()

        reached = reports_target(ops, self.pins, target)

        deadline = self.clock.monotonic() + self.conf.timeout_s
        while (left := deadline - self.clock.monotonic()) > 0:
            if ops.wait_node(node, reached, min(WATCH_WINDOW_S, left)) is not None:
                return
            stop_check()
            for pod in ops.pods_on(node):  # the installer's pods: those placed by the label
                placed = key in ((pod.get("spec") or {}).get("nodeSelector") or {})
                if placed and (failure := install_failure(pod)):
                    raise NodeFailed(f"installer pod {pod['metadata']['name']} failed on {node}: {failure}"[:500])
        raise NodeFailed(
            f"{node} did not report Kata {target} within {self.conf.timeout_s:g}s of label {key}={target} "
            f"(spec.install.timeout): does a DaemonSet select nodes with {key}={target}?"
        )


class ByCluster:
    """Each cluster's install by the mechanism its deployment uses (``upgrades.deployment``)."""

    def __init__(
        self, conf: Install, pins: dict[str, str], deployments: Mapping[str, Deployment], clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.deployments = deployments
        self._by: dict[Mechanism, Installer] = {
            Mechanism.DAEMONSET: DaemonSetInstall(conf, pins, clock),
            Mechanism.JOB: JobInstall(conf, pins, clock),
            Mechanism.LABEL: LabelInstall(conf, pins, clock),
        }

    def install(
        self,
        ops: ClusterAPI,
        node: str,
        target: str,
        *,
        started: Callable[[], None] = lambda: None,
        stop_check: Callable[[], None] = lambda: None,
    ) -> None:
        """Install by the cluster's mechanism."""
        found = self.deployments.get(ops.cluster)
        if found is None:
            raise NodeFailed(f"no install mechanism was found for cluster {ops.cluster} before the run started")
        self._by[found.mechanism].install(ops, node, target, started=started, stop_check=stop_check)


def installer_for(
    conf: Install, pins: dict[str, str], deployments: Mapping[str, Deployment], clock: Clock = SYSTEM_CLOCK
) -> Installer:
    """The installer for a run whose clusters' deployments are known."""
    return ByCluster(conf, pins, deployments, clock)
