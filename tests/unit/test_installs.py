"""kata-deploy OnDelete, in-process: no pod is deleted before the DaemonSet controller has seen the
new template, and a pod the controller recreated from the old one anyway is deleted again."""

from __future__ import annotations

from typing import Any

from store.facts import NodeFacts
from tests.support.fakecluster import FakeClock
from upgrades.installs import DaemonSetInstall
from upgrades.planfile import Install

IMAGE = "quay.io/kata-containers/kata-deploy:{}"


class DeployOnly:
    """Just the kata-deploy DaemonSet and one node's pod, with a controller that lags: it observes
    the template ``lag`` reads after the patch, and recreates pods from what it has observed."""

    cluster = "c"

    def __init__(self, clock: FakeClock, lag: int, *, stale_once: bool = False) -> None:
        self.clock = clock
        self.generation, self.observed, self.lag, self.stale_once = 1, 1, lag, stale_once
        self.image, self.log, self.pods = IMAGE.format("3.28.0"), [], [self._pod("3.28.0", 0)]
        self.observed_image = self.image

    def _pod(self, version: str, n: int) -> dict[str, Any]:
        return {"metadata": {"namespace": "kube-system", "name": f"kata-deploy-{n}"},
                "spec": {"containers": [{"image": IMAGE.format(version)}]},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]}}  # fmt: skip

    def daemonset(self, namespace: str, name: str) -> dict[str, Any]:
        self.log.append("read")
        if self.observed < self.generation:
            self.lag -= 1
            if self.lag <= 0:
                self.observed, self.observed_image = self.generation, self.image
        return {"metadata": {"namespace": namespace, "name": name, "generation": self.generation},
                "spec": {"updateStrategy": {"type": "OnDelete"}, "selector": {"matchLabels": {"name": "kata-deploy"}},
                         "template": {"spec": {"containers": [{"name": "kata-deploy", "image": self.image}]}}},
                "status": {"observedGeneration": self.observed}}  # fmt: skip

    def set_image(self, ds: dict[str, Any], image: str, *, reason: str) -> None:
        self.log.append("patch")
        self.image, self.generation = image, self.generation + 1

    def pods_on(self, node: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        return list(self.pods)

    def delete_pod(self, namespace: str, name: str, *, reason: str) -> None:
        self.log.append(f"delete {name} (observed {self.observed}/{self.generation})")
        image = self.observed_image if not self.stale_once else IMAGE.format("3.28.0")
        self.stale_once = False
        self.pods = [{**self._pod("x", len(self.log)), "spec": {"containers": [{"image": image}]}}]

    def facts(self, node: dict[str, Any], pins: dict[str, str]) -> NodeFacts:
        version = self.pods[0]["spec"]["containers"][0]["image"].rsplit(":", 1)[1]
        return NodeFacts(name="n", kata_version=version, kata_label="true", ready=True)

    def wait_node(self, name: str, ready: Any, seconds: float) -> dict[str, Any] | None:
        if ready({}):
            return {}
        self.clock.sleep(seconds)  # a watch window passes with no change
        return None


def test_no_pod_is_deleted_before_the_controller_has_the_new_template() -> None:
    clock = FakeClock()
    ops = DeployOnly(clock, lag=5)
    DaemonSetInstall(Install(), {}, clock).install(ops, "n", "4.1.0")  # type: ignore[arg-type]
    deletes = [e for e in ops.log if e.startswith("delete")]
    assert deletes == [deletes[0]] and "(observed 2/2)" in deletes[0], ops.log
    assert ops.log.index("patch") < ops.log.index(deletes[0]) and ops.log.count("read") >= 5


def test_a_pod_recreated_from_the_old_template_is_deleted_again() -> None:
    clock = FakeClock()
    ops = DeployOnly(clock, lag=1, stale_once=True)
    DaemonSetInstall(Install(), {}, clock).install(ops, "n", "4.1.0")  # type: ignore[arg-type]
    assert len([e for e in ops.log if e.startswith("delete")]) == 2, ops.log
    assert ops.facts({}, {}).kata_version == "4.1.0"


class SlowPod(DeployOnly):
    """The node reports the target at once (its reporter's annotations), while the new kata-deploy
    pod is still pulling: not Ready for ``unready`` looks."""

    def __init__(self, clock: FakeClock, unready: int) -> None:
        super().__init__(clock, lag=0)
        self.unready = unready

    def pods_on(self, node: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        if not any(e.startswith("delete") for e in self.log) or self.unready <= 0:
            return list(self.pods)
        self.unready -= 1
        return [{**p, "status": {"conditions": [{"type": "Ready", "status": "False"}]}} for p in self.pods]

    def facts(self, node: dict[str, Any], pins: dict[str, str]) -> NodeFacts:
        return NodeFacts(name="n", kata_version="4.1.0", kata_label="true", ready=True)


def test_install_waits_for_the_pod_at_the_target_to_be_ready_not_only_the_node() -> None:
    clock = FakeClock()
    ops = SlowPod(clock, unready=3)
    DaemonSetInstall(Install(), {}, clock).install(ops, "n", "4.1.0")  # type: ignore[arg-type]
    assert [e for e in ops.log if e.startswith("delete")], "the pod at the old release was never replaced"
    assert ops.unready == 0, "install returned while the new kata-deploy pod was not Ready"
