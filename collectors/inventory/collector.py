"""One inventory collection of one cluster: list nodes and pods (paged, raw JSON), write what changed.

Pods are read page by page and reduced at once to what each node needs: its kata-deploy pod's
release, state and start, its Cloud API Adaptor release, its kata-monitor pod's namespace, how many
Kata pods it runs and when they started (to count those older than the node's last install). Peer
pods are counted from the Cloud API Adaptor's PeerPod objects, each owned by its Pod; where PeerPods
cannot be listed, from the node's ``kata-remote`` pods. So memory stays
near one page plus one small record per node, whatever the pod count. Temporary API
errors are retried with backoff and counted; if a list still fails, nothing is written, and
the store keeps the last good collection.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from clients.kube.annotations import parse_timestamp
from clients.kube.client import KubeClient
from clients.kube.errors import KubeApiError, KubeNotFound, KubePermanentError, KubeTemporaryError
from collectors.inventory.caa import resolve_caa_image
from collectors.inventory.nodefacts import NodeExtras, build_facts
from store.engine import Store
from store.facts import NodeFacts
from store.images import image_tag
from store.snapshots import SnapshotResult, record_snapshot

T = TypeVar("T")
DEPLOY_LABEL = ("name", "kata-deploy")
CAA_LABEL = ("app", "cloud-api-adaptor")
# kata-monitor's pods: the kata-deploy chart's label (templates/kata-monitor.yaml, 3.32.0+, in the release's
# namespace), then the older manifests' ``name: kata-monitor``; either, in any namespace.
MONITOR_LABELS = (("app.kubernetes.io/name", "kata-monitor"), ("name", "kata-monitor"))
PEERPODS_PATH = "/apis/confidentialcontainers.org/v1alpha1/peerpods"
PEER_RUNTIME_CLASS = "kata-remote"
KATA_CLASS_PREFIX = "kata"  # kata-deploy's RuntimeClasses are named after their handlers: kata-qemu, kata-remote...


@dataclass
class RetryPolicy:
    """Backoff for temporary API errors: ``attempts`` tries, delays doubling from ``base`` up to ``cap``."""

    attempts: int = 6
    base: float = 0.2
    cap: float = 5.0
    sleep: Callable[[float], None] = time.sleep


@dataclass
class CollectResult:
    """One cluster's collection."""

    cluster: str
    snapshot: SnapshotResult | None
    nodes: int = 0
    pods: int = 0
    api_requests: int = 0
    errors_retried: int = 0
    seconds: float = 0.0
    error: str | None = None
    hint: str | None = None  # what to do about ``error``
    events_written: int = 0


@dataclass
class _NodeAccumulator:
    deploy_version: str | None = None
    deploy_state: str | None = None
    caa_version: str | None = None
    peerpods: int = 0
    monitor_namespace: str | None = None
    kata_pods: int = 0  # Running pods of a Kata RuntimeClass
    deploy_started: datetime | None = None
    kata_starts: list[datetime] = field(default_factory=list)
    kata_start_unknown: bool = False  # a Running Kata pod without a readable start time

    def note_kata_pod(self, status: Mapping[str, Any]) -> None:
        """Count one Running Kata pod by its start time."""
        self.kata_pods += 1
        started = parse_timestamp(status.get("startTime"))
        if started is None:
            self.kata_start_unknown = True
        else:
            self.kata_starts.append(started)

    def kata_pods_started(self) -> tuple[datetime, ...] | None:
        """The Running Kata pods' start times; None when one of them is unknown."""
        return None if self.kata_start_unknown else tuple(self.kata_starts)


@dataclass
class _Retrier:
    policy: RetryPolicy
    retried: int = 0
    last_error: list[str] = field(default_factory=list)
    refused: list[KubePermanentError] = field(default_factory=list)  # optional lists the API refused

    def run(self, call: Callable[[], T]) -> T:
        delay = self.policy.base
        for attempt in range(self.policy.attempts):
            try:
                return call()
            except KubeTemporaryError as exc:
                if attempt == self.policy.attempts - 1:
                    raise
                self.retried += 1
                self.policy.sleep(max(delay, exc.retry_after if exc.status == 429 else 0.0))
                delay = min(delay * 2, self.policy.cap)
        raise AssertionError("unreachable")


def pod_state(pod: Mapping[str, Any]) -> str:
    """A pod's state as kubectl shows it: a waiting reason, or its phase."""
    status = pod.get("status") or {}
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting:
            return str(waiting.get("reason") or "Waiting")
    return str(status.get("phase") or "Unknown")


def is_kata_class(runtime_class: object) -> bool:
    """Whether a pod's ``runtimeClassName`` names a Kata runtime class."""
    return isinstance(runtime_class, str) and runtime_class.startswith(KATA_CLASS_PREFIX)


def is_monitor_pod(labels: Mapping[str, Any]) -> bool:
    """A kata-monitor pod, by the chart's label or the older one."""
    return any(labels.get(key) == value for key, value in MONITOR_LABELS)


def reduce_pod(
    pod: Mapping[str, Any], nodes: dict[str, _NodeAccumulator], remote: dict[tuple[str, str], str] | None = None
) -> None:
    """Fold one pod into its node's accumulator; ``remote`` collects (namespace, name) -> node of peer pods."""
    spec = pod.get("spec") or {}
    node = spec.get("nodeName")
    if not node:
        return
    acc = nodes.setdefault(node, _NodeAccumulator())
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    containers = spec.get("containers") or [{}]
    status = pod.get("status") or {}
    if labels.get(DEPLOY_LABEL[0]) == DEPLOY_LABEL[1]:
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            return
        acc.deploy_version = image_tag(str(containers[0].get("image", "")))
        acc.deploy_state = pod_state(pod)
        acc.deploy_started = parse_timestamp(status.get("startTime")) if status.get("phase") == "Running" else None
    elif labels.get(CAA_LABEL[0]) == CAA_LABEL[1]:
        caa = resolve_caa_image(str(containers[0].get("image", "")))
        acc.caa_version = caa.shown if caa else None
    elif is_monitor_pod(labels):
        if not meta.get("deletionTimestamp"):
            acc.monitor_namespace = str(meta.get("namespace") or "") or None
    else:
        runtime_class, phase = spec.get("runtimeClassName"), status.get("phase")
        if runtime_class == PEER_RUNTIME_CLASS and phase in ("Pending", "Running"):
            acc.peerpods += 1
            if remote is not None:
                remote[(str(meta.get("namespace")), str(meta.get("name")))] = node
        if is_kata_class(runtime_class) and phase == "Running":
            acc.note_kata_pod(status)


def pod_summary(client: KubeClient, retrier: _Retrier) -> tuple[dict[str, _NodeAccumulator], int]:
    """Every pod, read page by page and folded into per-node accumulators; also the pod count."""
    accumulators: dict[str, _NodeAccumulator] = {}
    remote: dict[tuple[str, str], str] = {}
    pods = 0
    for page in client.list_pages("/api/v1/pods", retry=retrier.run):
        items = page.get("items") or []
        pods += len(items)
        for pod in items:
            reduce_pod(pod, accumulators, remote)
    counts = peerpod_counts(client, retrier, remote)
    if counts is not None:
        for acc in accumulators.values():
            acc.peerpods = 0
        for node, count in counts.items():
            accumulators.setdefault(node, _NodeAccumulator()).peerpods = count
    return accumulators, pods


def count_peerpods(peerpods: list[Mapping[str, Any]], remote: Mapping[tuple[str, str], str]) -> dict[str, int]:
    """PeerPods per node: each is owned by its Pod (same namespace), which names the node."""
    counts: dict[str, int] = {}
    for peerpod in peerpods:
        meta = peerpod.get("metadata") or {}
        owner = next((o for o in meta.get("ownerReferences") or [] if o.get("kind") == "Pod"), None)
        node = remote.get((str(meta.get("namespace")), str((owner or {}).get("name") or meta.get("name"))))
        if node:
            counts[node] = counts.get(node, 0) + 1
    return counts


def peerpod_counts(
    client: KubeClient, retrier: _Retrier, remote: Mapping[tuple[str, str], str]
) -> dict[str, int] | None:
    """Peer pods per node from the PeerPod objects; None when they cannot be listed (no CRD, no RBAC)."""
    items: list[Mapping[str, Any]] = []
    try:
        for page in client.list_pages(PEERPODS_PATH, retry=retrier.run):
            items += page.get("items") or []
    except KubeNotFound:  # no PeerPod CRD: the kata-remote pods stand in
        return None
    except KubePermanentError as exc:  # e.g. RBAC: the kata-remote pods stand in, and the refusal is reported
        retrier.refused.append(exc)
        return None
    return count_peerpods(items, remote)


def facts_from(
    raw_nodes: list[dict[str, Any]], accumulators: Mapping[str, _NodeAccumulator], pins: Mapping[str, str]
) -> list[NodeFacts]:
    """Every node's facts from its Node object and its pods' accumulator."""
    has_caa = any(a.caa_version for a in accumulators.values())
    facts = []
    for node in raw_nodes:
        name = (node.get("metadata") or {}).get("name")
        acc = accumulators.get(name or "", _NodeAccumulator())
        extras = NodeExtras(
            acc.deploy_version,
            acc.deploy_state,
            acc.caa_version,
            acc.peerpods if has_caa or acc.peerpods else None,
            acc.deploy_started,
            acc.kata_pods_started(),
            kata_pods=acc.kata_pods,
            monitor_namespace=acc.monitor_namespace,
        )
        facts.append(build_facts(node, extras, pins))
    return facts


def gather_facts(client: KubeClient, pins: Mapping[str, str], retrier: _Retrier) -> tuple[list[NodeFacts], int]:
    """List nodes and pods; return every node's facts and the pod count."""
    raw_nodes: list[dict[str, Any]] = []
    for page in client.list_pages("/api/v1/nodes", retry=retrier.run):
        raw_nodes += page.get("items") or []
    accumulators, pods = pod_summary(client, retrier)
    return facts_from(raw_nodes, accumulators, pins), pods


def collect_cluster(
    client: KubeClient,
    store: Store,
    pins: Mapping[str, str],
    *,
    retry: RetryPolicy | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> CollectResult:
    """Collect one cluster into the store. Failures are reported in the result, not raised."""
    started = time.monotonic()
    retrier = _Retrier(retry or RetryPolicy())
    result = CollectResult(cluster=client.name, snapshot=None)
    asked_again = client.retries  # the client asks again after a 5xx itself; those count as retried too
    try:
        facts, result.pods = gather_facts(client, pins, retrier)
        result.nodes = len(facts)
        with store.write() as session:
            result.snapshot = record_snapshot(session, client.name, facts, at=now(), server=client.context.server)
        for refused in retrier.refused:  # the facts stand; peer pods were counted from kata-remote pods
            where = f"{refused.where}: " if refused.where else ""
            result.error = (
                f"peer pods were counted from kata-remote pods, PeerPods were not read: {where}{refused.message}"
            )
            result.hint = refused.hint
        try:
            result.events_written = _collect_events(client, store, retrier)
        except KubePermanentError as exc:  # e.g. RBAC without events list: the facts stand, the gap is reported
            where = f"{exc.where}: " if exc.where else ""
            result.error = f"node events were not read: {where}{exc.message}"
            result.hint = exc.hint
    except KubeTemporaryError as exc:
        where = f"{exc.where}: " if exc.where else ""
        result.error = f"{where}{exc.message} (gave up after {retrier.policy.attempts} tries)"
        result.hint = exc.hint
    except KubeApiError as exc:
        result.error = f"{exc.where}: {exc.message}" if exc.where else exc.message
        result.hint = exc.hint
    result.errors_retried = retrier.retried + client.retries - asked_again
    result.api_requests = client.requests
    result.seconds = time.monotonic() - started
    return result


def _collect_events(client: KubeClient, store: Store, retrier: _Retrier) -> int:
    """Node events into the store (a refusal is raised: the caller reports it beside the facts it wrote)."""
    from collectors.inventory.events import gather_events
    from store.events import record_events

    events = gather_events(client, retrier.run)
    with store.write() as session:
        return record_events(session, client.name, events)
