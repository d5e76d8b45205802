"""The pods the collector reads, each read by a server-side selector, folded into one record per node.

- kata-deploy, Cloud API Adaptor and kata-monitor pods, by label (``PodSelectors``, configurable);
- Running pods (``fieldSelector=status.phase=Running``), of which only the Kata ones are kept, as
  each page arrives: their count and start times (stale sandboxes), and ``kata-remote`` pods, which
  stand in for peer pods where the PeerPod objects cannot be listed;
- the PeerPod objects, each owned by its Pod.

Pages are decoded into ``clients.kube.objects`` shapes, which skip the fields not named there, so
memory stays near one page plus one small record per node, whatever the pod count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from clients.kube.annotations import parse_timestamp
from clients.kube.client import KubeClient, Retry
from clients.kube.errors import KubeNotFound, KubePermanentError
from clients.kube.objects import PeerPod, Pod
from collectors.inventory.caa import resolve_caa_image
from store.images import image_tag

PEERPODS_PATH = "/apis/confidentialcontainers.org/v1alpha1/peerpods"
PEER_RUNTIME_CLASS = "kata-remote"
KATA_CLASS_PREFIX = "kata"  # kata-deploy's RuntimeClasses are named after their handlers: kata-qemu, kata-remote...
RUNNING = "status.phase=Running"


@dataclass(frozen=True)
class PodSelectors:
    """Label selectors for the pods that say what a node runs (config ``[selectors]``)."""

    kata_deploy: str = "name=kata-deploy"
    cloud_api_adaptor: str = "app=cloud-api-adaptor"
    # the kata-deploy chart's label (templates/kata-monitor.yaml, 3.32.0+, in the release's namespace),
    # then the older manifests' ``name: kata-monitor``; either, in any namespace
    kata_monitor: tuple[str, ...] = ("app.kubernetes.io/name=kata-monitor", "name=kata-monitor")


DEFAULT_SELECTORS = PodSelectors()


class Role(Enum):
    """Which read a pod came from, and so what it says about its node."""

    DEPLOY = "kata-deploy"
    CAA = "cloud-api-adaptor"
    MONITOR = "kata-monitor"
    WORKLOAD = "workload"


@dataclass
class NodePods:
    """What one node's pods say about it."""

    deploy_version: str | None = None
    deploy_state: str | None = None
    caa_version: str | None = None
    peerpods: int = 0
    monitor_namespace: str | None = None
    kata_pods: int = 0  # Running pods of a Kata RuntimeClass
    deploy_started: datetime | None = None
    kata_starts: list[datetime] = field(default_factory=list)
    kata_start_unknown: bool = False  # a Running Kata pod without a readable start time

    def note_kata_pod(self, started: str | None) -> None:
        """Count one Running Kata pod by its start time."""
        self.kata_pods += 1
        at = parse_timestamp(started)
        if at is None:
            self.kata_start_unknown = True
        else:
            self.kata_starts.append(at)

    def kata_pods_started(self) -> tuple[datetime, ...] | None:
        """The Running Kata pods' start times; None when one of them is unknown."""
        return None if self.kata_start_unknown else tuple(self.kata_starts)


def pod_state(pod: Pod) -> str:
    """A pod's state as kubectl shows it: a waiting reason, or its phase."""
    for cs in pod.status.containerStatuses:
        if cs.state.waiting is not None:
            return cs.state.waiting.reason or "Waiting"
    return pod.status.phase or "Unknown"


def is_kata_class(runtime_class: object) -> bool:
    """Whether a pod's ``runtimeClassName`` names a Kata runtime class."""
    return isinstance(runtime_class, str) and runtime_class.startswith(KATA_CLASS_PREFIX)


def fold(pod: Pod, role: Role, nodes: dict[str, NodePods], remote: dict[tuple[str, str], str] | None = None) -> None:
    """Fold one pod into its node's record; ``remote`` collects (namespace, name) -> node of peer pods."""
    node = pod.spec.nodeName
    if not node:
        return
    acc = nodes.setdefault(node, NodePods())
    meta, status = pod.metadata, pod.status
    if role is Role.DEPLOY:
        if meta.deletionTimestamp:
            return
        acc.deploy_version = image_tag(pod.image)
        acc.deploy_state = pod_state(pod)
        acc.deploy_started = parse_timestamp(status.startTime) if status.phase == "Running" else None
    elif role is Role.CAA:
        caa = resolve_caa_image(pod.image)
        acc.caa_version = caa.shown if caa else None
    elif role is Role.MONITOR:
        if not meta.deletionTimestamp:
            acc.monitor_namespace = meta.namespace or None
    else:
        runtime_class, phase = pod.spec.runtimeClassName, status.phase
        if runtime_class == PEER_RUNTIME_CLASS and phase in ("Pending", "Running"):
            acc.peerpods += 1
            if remote is not None:
                remote[(meta.namespace, meta.name)] = node
        if is_kata_class(runtime_class) and phase == "Running":
            acc.note_kata_pod(status.startTime)


def labelled_reads(selectors: PodSelectors) -> list[tuple[Role, str]]:
    """The label-selected reads, in the order they are folded."""
    return [
        (Role.DEPLOY, selectors.kata_deploy),
        (Role.CAA, selectors.cloud_api_adaptor),
        *((Role.MONITOR, s) for s in selectors.kata_monitor),
    ]


def count_peerpods(peerpods: Iterable[PeerPod], remote: Mapping[tuple[str, str], str]) -> dict[str, int]:
    """PeerPods per node: each is owned by its Pod (same namespace), which names the node."""
    counts: dict[str, int] = {}
    for peerpod in peerpods:
        meta = peerpod.metadata
        owner = next((o.name for o in meta.ownerReferences if o.kind == "Pod"), "") or meta.name
        node = remote.get((meta.namespace, owner))
        if node:
            counts[node] = counts.get(node, 0) + 1
    return counts


def read_pods(
    client: KubeClient,
    retry: Retry,
    refused: list[KubePermanentError],
    selectors: PodSelectors = DEFAULT_SELECTORS,
    *,
    watched: bool = False,
) -> tuple[dict[str, NodePods], int]:
    """Every node's pod record, and how many pods were read; a refused PeerPods list goes to ``refused``.

    ``watched``: the labelled pods are kept by informers (``collect --watch``), so only the Running
    pods and the PeerPods are read."""
    nodes: dict[str, NodePods] = {}
    remote: dict[tuple[str, str], str] = {}
    labelled: set[tuple[str, str]] = set()
    read = 0
    for role, selector in [] if watched else labelled_reads(selectors):
        for page in client.list_typed("/api/v1/pods", Pod, {"labelSelector": selector}, retry=retry):
            read += len(page.items)
            for pod in page.items:
                labelled.add((pod.metadata.namespace, pod.metadata.name))
                fold(pod, role, nodes)
    for page in client.list_typed("/api/v1/pods", Pod, {"fieldSelector": RUNNING}, retry=retry):
        read += len(page.items)
        for pod in page.items:
            if (pod.metadata.namespace, pod.metadata.name) not in labelled:
                fold(pod, Role.WORKLOAD, nodes, remote)
    counts = peerpod_counts(client, retry, refused, remote)
    if counts is not None:
        for acc in nodes.values():
            acc.peerpods = 0
        for node, count in counts.items():
            nodes.setdefault(node, NodePods()).peerpods = count
    return nodes, read


def peerpod_counts(
    client: KubeClient, retry: Retry, refused: list[KubePermanentError], remote: Mapping[tuple[str, str], str]
) -> dict[str, int] | None:
    """Peer pods per node from the PeerPod objects; None when they cannot be listed (no CRD, no RBAC)."""
    items: list[PeerPod] = []
    try:
        for page in client.list_typed(PEERPODS_PATH, PeerPod, retry=retry):
            items += page.items
    except KubeNotFound:  # no PeerPod CRD: the kata-remote pods stand in
        return None
    except KubePermanentError as exc:  # e.g. RBAC: the kata-remote pods stand in, and the refusal is reported
        refused.append(exc)
        return None
    return count_peerpods(items, remote)
