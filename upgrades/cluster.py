"""What the executor does to a cluster, one API call at a time, each write in the audit trail.

Every method is idempotent: calling it again after a crash finds the work done and does
nothing more. Nodes carry the run's trace in annotations, and a cordon records who made it,
so only our cordons are undone.
"""

from __future__ import annotations

import contextlib
import math
import secrets
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TypeVar, cast
from urllib.parse import quote

from clients.kube.annotations import INSTALLED_AT_ANNOTATION, installed_at_value
from clients.kube.client import KubeClient
from clients.kube.errors import KubeApiError, KubeConflict, KubeGone, KubeInvalid, KubeNotFound, KubeThrottled
from collectors.inventory.nodefacts import NodeExtras, build_facts
from store.engine import Store
from store.errors import BadInputError
from store.facts import NodeFacts
from store.runs import audit_begin, audit_end
from store.states import Eviction, NodeEnd, NodeMark, Step
from upgrades.ports import ConfigMap, DaemonSet, Job, Node, Pod

PREFIX = "upgrade.fleetctl.io"
RUN_ANNOTATION = f"{PREFIX}/run"
STEP_ANNOTATION = f"{PREFIX}/step"
CORDONED_BY = f"{PREFIX}/cordoned-by"
STATUS_ANNOTATION = f"{PREFIX}/status"  # kata-lifecycle-manager's style: preparing, cordoned, ... completed
CURRENT_VERSION = f"{PREFIX}/current-version"  # the release fleetctl last installed here
STATUS_OF: dict[NodeMark, str] = {  # a step (or a node's end) as kata-lifecycle-manager names its phases
    Step.CLAIM: "preparing", Step.CORDON: "cordoned", Step.DRAIN: "draining", Step.INSTALL: "upgrading",
    Step.VERIFY: "verifying", Step.UNCORDON: "verifying", Step.DONE: "completed", NodeEnd.FAILED: "failed",
    NodeEnd.SKIPPED: "skipped", NodeEnd.STOPPED: "stopped",
}  # fmt: skip
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
T = TypeVar("T")
K = TypeVar("K", Pod, DaemonSet, ConfigMap, Job)


class ClusterOps:
    """One cluster's API, as the executor of one run uses it."""

    def __init__(self, client: KubeClient, store: Store, *, run_id: int, actor: str) -> None:
        self.client, self.store, self.run_id, self.actor = client, store, run_id, actor
        self.cluster = client.name
        self.marker = f"run-{run_id}"

    # --- audit --------------------------------------------------------------------------------

    def _write(self, action: str, target: str, call: Callable[[], T], *, reason: str = "", key: str | None = None) -> T:
        """One audited write: recorded as pending before it is sent (unless ``key`` says it
        was), then with its result."""
        key = key or self._begin(action, target, reason)
        try:
            result = call()
        except KubeApiError as exc:
            audit_end(self.store, key, "failed", error=exc.message)
            raise
        audit_end(self.store, key, "ok")
        return result

    def _begin(self, action: str, target: str, reason: str) -> str:
        return self.begin_many(action, [target], reason)[0]

    def begin_many(self, action: str, targets: Sequence[str], reason: str) -> list[str]:
        """Audit rows for writes about to be sent, pending, in one commit; their keys."""
        return audit_begin(
            self.store, actor=self.actor, action=action, targets=targets, run_id=self.run_id, cluster=self.cluster,
            reason=reason,
        )  # fmt: skip

    # --- nodes --------------------------------------------------------------------------------

    def node(self, name: str) -> Node:
        """The node object."""
        return cast(Node, self.client.get(f"/api/v1/nodes/{quote(name)}"))

    def list_nodes(self) -> Iterator[list[Node]]:
        """Every node, page by page."""
        for page in self.client.list_pages("/api/v1/nodes"):
            yield page.get("items") or []

    def facts(self, node: Node, pins: dict[str, str]) -> NodeFacts:
        """What the node reports (version, handlers, kernel), read the way the collector reads it."""
        return build_facts(node, NodeExtras(), pins)

    def _patch_node(self, name: str, body: object, *, action: str, reason: str, content_type: str = MERGE) -> None:
        """One audited PATCH of a node."""
        path = f"/api/v1/nodes/{quote(name)}"
        self._write(
            action,
            f"node/{name}",
            lambda: self.client.send("PATCH", path, body, content_type=content_type),
            reason=reason,
        )

    def trace(self, name: str, step: Step) -> None:
        """Annotate the node with this run and its current step."""
        annotations = {
            RUN_ANNOTATION: str(self.run_id),
            STEP_ANNOTATION: step,
            STATUS_ANNOTATION: STATUS_OF.get(step, step),
        }
        self._patch_node(name, {"metadata": {"annotations": annotations}}, action="annotate", reason=f"step {step}")

    def mark_installed(self, name: str, release: str) -> None:
        """Record on the node that an install of ``release`` finished now (stale sandboxes count from it)."""
        stamp = installed_at_value(datetime.now(UTC))
        body = {"metadata": {"annotations": {INSTALLED_AT_ANNOTATION: stamp, CURRENT_VERSION: release}}}
        self._patch_node(name, body, action="annotate", reason=f"installed {release}")

    def cordon(self, name: str, seen: Node | None = None, *, next_step: Step = Step.DRAIN) -> bool:
        """Cordon the node if it is not; True when we cordoned it now or did earlier in this run.

        ``seen`` is the node as just read (its resourceVersion guards the patch; a 409 reads it
        again). The patch also records the run and ``next_step`` in the node's annotations.
        """
        for _ in range(5):
            node, seen = seen or self.node(name), None
            meta = node["metadata"]
            if (meta.get("annotations") or {}).get(CORDONED_BY) == self.marker:
                return True
            if node.get("spec", {}).get("unschedulable"):
                return False  # someone else's cordon: leave it, and never undo it
            annotations = {
                CORDONED_BY: self.marker, STEP_ANNOTATION: next_step, RUN_ANNOTATION: str(self.run_id),
                STATUS_ANNOTATION: STATUS_OF[Step.CORDON],
            }  # fmt: skip
            body = {
                "metadata": {"resourceVersion": meta["resourceVersion"], "annotations": annotations},
                "spec": {"unschedulable": True},
            }
            try:
                self._patch_node(name, body, action="cordon", reason="upgrade")
                return True
            except KubeConflict:
                continue  # the node changed between our read and write: read again
        raise KubeConflict(f"node {name} kept changing while cordoning", where=f"context {self.cluster}")

    def uncordon(self, name: str, step: NodeMark = Step.DONE, *, ours: bool | None = None) -> bool:
        """Uncordon the node only if this run cordoned it; True when it did.

        ``ours`` is what the store recorded; the patch itself tests the cordon annotation, so the
        check and the uncordon are one atomic request (a 422 means the cordon is not ours).
        """
        if ours is None:
            ours = (self.node(name)["metadata"].get("annotations") or {}).get(CORDONED_BY) == self.marker
        if ours:
            key = "/metadata/annotations/" + CORDONED_BY.replace("~", "~0").replace("/", "~1")
            operations = [
                {"op": "test", "path": key, "value": self.marker},
                {"op": "remove", "path": key},
                {"op": "add", "path": "/spec/unschedulable", "value": False},
                {"op": "add", "path": "/metadata/annotations/" + STEP_ANNOTATION.replace("/", "~1"), "value": step},
                {"op": "add", "path": "/metadata/annotations/" + STATUS_ANNOTATION.replace("/", "~1"),
                 "value": STATUS_OF.get(step, step)},
            ]  # fmt: skip
            try:
                self._patch_node(name, operations, action="uncordon", reason=f"step {step}", content_type=JSON_PATCH)
                return True
            except KubeInvalid:
                pass  # the annotation is gone or not ours: someone else owns this cordon now
        annotations = {STEP_ANNOTATION: step, STATUS_ANNOTATION: STATUS_OF.get(step, step)}
        self._patch_node(name, {"metadata": {"annotations": annotations}}, action="annotate", reason=f"step {step}")
        return False

    def wait_node(self, name: str, ready: Callable[[Node], bool], seconds: float) -> Node | None:
        """Watch one node for up to ``seconds`` until ``ready(node)``; the node, or None on time-out."""
        node = self.node(name)
        if ready(node):
            return node
        params: dict[str, str | int] = {"fieldSelector": f"metadata.name={name}"}
        events = self.client.watch(
            "/api/v1/nodes", node["metadata"]["resourceVersion"], params, timeout_seconds=max(1, round(seconds))
        )
        try:
            for event in events:
                obj = cast(Node, event.get("object") or {})
                if event.get("type") in ("ADDED", "MODIFIED") and ready(obj):
                    return obj
        finally:
            events.close()  # type: ignore[attr-defined]
        return None

    def event(self, name: str, uid: str | None, reason: str, message: str, *, warning: bool = False) -> None:
        """A core/v1 Event on the node, as kubectl describe shows it."""
        at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{name}.fleetctl-{secrets.token_hex(6)}", "namespace": "default"},
            "involvedObject": {"kind": "Node", "name": name, "uid": uid or name, "apiVersion": "v1"},
            "reason": reason,
            "message": message[:1024],
            "type": "Warning" if warning else "Normal",
            "source": {"component": "fleetctl"},
            "reportingComponent": "fleetctl",
            "reportingInstance": self.actor[:128],
            "firstTimestamp": at,
            "lastTimestamp": at,
            "count": 1,
        }
        with contextlib.suppress(KubeConflict):  # a retried create that had gone through: the event exists
            self._write(
                "event",
                f"node/{name}",
                lambda: self.client.send("POST", "/api/v1/namespaces/default/events", body),
                reason=reason,
            )

    # --- pods ---------------------------------------------------------------------------------

    def pods_on(self, name: str, label_selector: str | None = None) -> list[Pod]:
        """Every pod bound to the node (optionally matching a label selector)."""
        return self.pod_list(name, label_selector)[0]

    def pod_list(self, name: str, label_selector: str | None = None) -> tuple[list[Pod], str]:
        """The node's pods and the list's resourceVersion, to watch from."""
        params: dict[str, str | int] = {"fieldSelector": f"spec.nodeName={name}"}
        if label_selector:
            params["labelSelector"] = label_selector
        items: list[Pod] = []
        version = ""
        for page in self.client.list_pages("/api/v1/pods", params):
            items.extend(page.get("items") or [])
            version = str((page.get("metadata") or {}).get("resourceVersion") or version)
        return items, version

    def wait_pods_gone(self, name: str, uids: set[str], version: str, seconds: float) -> bool:
        """Watch the node's pods from ``version`` until every pod in ``uids`` is deleted (True),
        or for about ``seconds`` (False), as ``kubectl drain`` waits for its evictions."""
        left = set(uids)
        if not left or not version:
            return not left
        params: dict[str, str | int] = {"fieldSelector": f"spec.nodeName={name}"}
        try:
            events = self.client.watch("/api/v1/pods", version, params, timeout_seconds=max(1, math.ceil(seconds)))
            try:
                for event in events:
                    if event.get("type") == "DELETED":
                        left.discard(((event.get("object") or {}).get("metadata") or {}).get("uid", ""))
                        if not left:
                            return True
            finally:
                events.close()  # type: ignore[attr-defined]
        except KubeGone:  # the list is too old to watch from: the caller lists again
            pass
        return False

    def evict(self, pod: Pod, grace: int | None, key: str | None = None) -> Eviction:
        """Ask the Eviction API to remove a pod: evicted, blocked (a PDB said no) or gone.
        ``key`` is its audit row when ``begin_many`` wrote it already."""
        meta = pod["metadata"]
        ns, name = meta["namespace"], meta["name"]
        body: dict[str, object] = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name, "namespace": ns},
        }
        if grace is not None:
            body["deleteOptions"] = {"gracePeriodSeconds": grace}
        key = key or self._begin("evict", f"pod/{ns}/{name}", "drain")
        try:
            self.client.send("POST", f"/api/v1/namespaces/{quote(ns)}/pods/{quote(name)}/eviction", body)
        except KubeNotFound:
            audit_end(self.store, key, None)  # already gone: nothing changed
            return Eviction.GONE
        except KubeThrottled:
            audit_end(self.store, key, None)  # 429: a PodDisruptionBudget allows no disruption now; no change
            return Eviction.BLOCKED
        except KubeApiError as exc:
            audit_end(self.store, key, "failed", error=exc.message)
            raise
        audit_end(self.store, key, "ok")
        return Eviction.EVICTED

    def delete_pod(
        self, namespace: str, name: str, *, grace: int | None = None, reason: str = "", key: str | None = None
    ) -> bool:
        """Delete a pod; False when it was already gone. ``key``: its audit row, if written already."""
        params: dict[str, str | int] = {} if grace is None else {"gracePeriodSeconds": grace}
        try:
            self._write(
                "delete-pod",
                f"pod/{namespace}/{name}",
                lambda: self.client.send(
                    "DELETE", f"/api/v1/namespaces/{quote(namespace)}/pods/{quote(name)}", params=params
                ),
                reason=reason,
                key=key,
            )
        except KubeNotFound:
            return False
        return True

    def pod(self, namespace: str, name: str) -> Pod | None:
        """A pod, or None."""
        return self._get_or_none(Pod, f"/api/v1/namespaces/{quote(namespace)}/pods/{quote(name)}")

    def create_pod(self, pod: Pod, *, reason: str) -> None:
        """Create a pod; an existing pod of that name is fine (a resumed step)."""
        self._create("pod", "/api/v1", pod, reason)

    def _create(self, kind: str, api: str, obj: Pod | Job, reason: str) -> None:
        """One audited create in the object's namespace; one of that name already there is fine."""
        ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        path = f"{api}/namespaces/{quote(ns)}/{kind}s"
        with contextlib.suppress(KubeConflict):
            self._write(
                f"create-{kind}", f"{kind}/{ns}/{name}", lambda: self.client.send("POST", path, obj), reason=reason
            )

    # --- kata-deploy --------------------------------------------------------------------------

    def daemonset(self, namespace: str, name: str) -> DaemonSet:
        """The kata-deploy DaemonSet; a missing one is a plan error."""
        try:
            path = f"/apis/apps/v1/namespaces/{quote(namespace)}/daemonsets/{quote(name)}"
            return cast(DaemonSet, self.client.get(path))
        except KubeNotFound:
            raise BadInputError(
                f"DaemonSet {namespace}/{name} does not exist in {self.cluster}",
                where="spec.install",
                hint="set spec.install.daemonSet and namespace to your kata-deploy DaemonSet",
            ) from None

    def set_image(self, ds: DaemonSet, image: str, *, reason: str) -> None:
        """Point the DaemonSet's kata-deploy container at ``image`` (strategic merge on the container name)."""
        meta = ds["metadata"]
        container = ds["spec"]["template"]["spec"]["containers"][0]["name"]
        body = {"spec": {"template": {"spec": {"containers": [{"name": container, "image": image}]}}}}
        path = f"/apis/apps/v1/namespaces/{quote(meta['namespace'])}/daemonsets/{quote(meta['name'])}"
        self._write(
            "set-image",
            f"daemonset/{meta['namespace']}/{meta['name']}",
            lambda: self.client.send("PATCH", path, body, content_type=STRATEGIC),
            reason=reason,
        )

    def find_daemonset(self, namespace: str, name: str) -> DaemonSet | None:
        """A DaemonSet, or None."""
        return self._get_or_none(DaemonSet, f"/apis/apps/v1/namespaces/{quote(namespace)}/daemonsets/{quote(name)}")

    def config_map(self, namespace: str, name: str) -> ConfigMap | None:
        """A ConfigMap, or None."""
        return self._get_or_none(ConfigMap, f"/api/v1/namespaces/{quote(namespace)}/configmaps/{quote(name)}")

    def job(self, namespace: str, name: str) -> Job | None:
        """A Job, or None."""
        return self._get_or_none(Job, f"/apis/batch/v1/namespaces/{quote(namespace)}/jobs/{quote(name)}")

    def create_job(self, job: Job, *, reason: str) -> None:
        """Create a Job; one of that name already there is fine (a resumed step reads it)."""
        self._create("job", "/apis/batch/v1", job, reason)

    def delete_job(self, namespace: str, name: str, *, reason: str) -> None:
        """Delete a Job and its pods (background propagation); gone already is fine."""
        path = f"/apis/batch/v1/namespaces/{quote(namespace)}/jobs/{quote(name)}"
        with contextlib.suppress(KubeNotFound):
            self._write(
                "delete-job",
                f"job/{namespace}/{name}",
                lambda: self.client.send("DELETE", path, params={"propagationPolicy": "Background"}),
                reason=reason,
            )

    def label_node(self, name: str, key: str, value: str | None, *, reason: str) -> None:
        """Set (None: remove) one label of the node."""
        self._patch_node(name, {"metadata": {"labels": {key: value}}}, action="label", reason=reason)

    def _get_or_none(self, shape: type[K], path: str) -> K | None:
        """The object at ``path`` as the engine reads it (``shape``), or None when there is none."""
        try:
            return cast(K, self.client.get(path))
        except KubeNotFound:
            return None
