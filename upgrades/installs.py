"""How a node gets the target release: the implementations of ``ports.Installer``, one per
``spec.install.mechanism``. Today that is kata-deploy's DaemonSet with ``updateStrategy: OnDelete``;
the install-mechanisms issue adds kata-deploy's job mode and a label-gated custom installer here."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from store.images import image_for, image_tag
from upgrades.clock import SYSTEM_CLOCK, Clock
from upgrades.flowerrors import NodeFailed
from upgrades.planfile import Install
from upgrades.ports import ClusterAPI, Installer

WATCH_WINDOW_S = 3.0  # install watches the node this long between looks at the kata-deploy pod
STALE_REDELETES = 2  # a pod at another release than the target is deleted again at most this often
OBSERVE_POLL_S = 0.1  # how often install asks whether the DaemonSet controller has seen the new template
INSTALL_FAILURES = ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName")


class DaemonSetInstall:
    """kata-deploy OnDelete: the DaemonSet at the target image (once per cluster and run), then
    each node's pod deleted once, and the node watched until it reports the target."""

    def __init__(self, conf: Install, pins: dict[str, str], clock: Clock = SYSTEM_CLOCK) -> None:
        self.conf, self.pins, self.clock = conf, pins, clock
        self._lock = threading.Lock()  # one DaemonSet update at a time per run
        self._at_target: dict[str, dict[str, Any]] = {}  # by cluster: once at the target, not read again

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

        def reached(obj: dict[str, Any]) -> bool:
            facts = ops.facts(obj, self.pins)
            return facts.kata_version == target and facts.kata_label == "true" and bool(facts.ready)

        deadline = self.clock.monotonic() + self.conf.timeout_s
        redeleted = 0
        while (left := deadline - self.clock.monotonic()) > 0:
            if ops.wait_node(node, reached, min(WATCH_WINDOW_S, left)) is not None:
                return
            stop_check()
            current = [p for p in ops.pods_on(node, selector) if not p["metadata"].get("deletionTimestamp")]
            stale = [p for p in current if image_tag(p["spec"]["containers"][0]["image"]) != target]
            if stale and redeleted < STALE_REDELETES:  # recreated from a template the controller had not yet updated
                redeleted += 1
                for pod in stale:
                    ops.delete_pod(
                        pod["metadata"]["namespace"], pod["metadata"]["name"], reason=f"install {target} (stale pod)"
                    )
                continue
            for pod in current:  # the node has not moved for a window: is kata-deploy failing?
                for status in (pod.get("status") or {}).get("containerStatuses") or []:
                    waiting = (status.get("state") or {}).get("waiting") or {}
                    if waiting.get("reason") in INSTALL_FAILURES:
                        raise NodeFailed(
                            f"kata-deploy failed on {node}: {waiting['reason']}: {waiting.get('message', '')}"[:500]
                        )
        raise NodeFailed(f"{node} did not report Kata {target} within {self.conf.timeout_s:g}s (spec.install.timeout)")

    def _daemonset_at(self, ops: ClusterAPI, target: str) -> dict[str, Any]:
        conf = self.conf
        with self._lock:
            ds = self._at_target.get(ops.cluster)
            if ds is None or _image(ds) != image_for(_image(ds), target):
                ds = ops.daemonset(conf.namespace, conf.daemonset)
                strategy = (ds["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate")
                if strategy != "OnDelete":
                    raise NodeFailed(
                        f"DaemonSet {conf.namespace}/{conf.daemonset} uses {strategy}; set updateStrategy OnDelete "
                        "so nodes upgrade one at a time"
                    )
                wanted = image_for(_image(ds), target)
                if _image(ds) != wanted:
                    ops.set_image(ds, wanted, reason=f"roll out {target}")
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


def _image(ds: dict[str, Any]) -> str:
    return str(ds["spec"]["template"]["spec"]["containers"][0]["image"])


def installer_for(conf: Install, pins: dict[str, str], clock: Clock = SYSTEM_CLOCK) -> Installer:
    """The installer ``spec.install.mechanism`` names (the plan validator allows only those here)."""
    return DaemonSetInstall(conf, pins, clock)
