"""What the upgrade engine asks of the world, as Protocols: each cluster's API, and the run's lock.

``ClusterOps`` (the Kubernetes API, every write audited) and ``RunLease`` (a Lease plus the
store's holder row) are the real implementations; the in-process tests give the engine fakes
with a fake clock (tests/support/fakecluster.py), so drains, installs, verifies, budgets, slots
and gates are tested without a simulator or a subprocess.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, TypedDict

from store.facts import NodeFacts
from store.states import Eviction, NodeMark, Step

# The Kubernetes objects the engine reads and writes, as far as it reads them: ``total=False``,
# because the API leaves a field out rather than sending it empty. Other fields pass through.


class OwnerReference(TypedDict, total=False):
    """One ``metadata.ownerReferences`` entry."""

    kind: str
    name: str
    controller: bool


class ObjectMeta(TypedDict, total=False):
    """An object's ``metadata``."""

    name: str
    namespace: str
    uid: str
    resourceVersion: str
    generation: int
    labels: dict[str, str]
    annotations: dict[str, str]
    ownerReferences: list[OwnerReference]
    deletionTimestamp: str


class Condition(TypedDict, total=False):
    """A ``status.conditions`` entry (Node, Pod, Job)."""

    type: str
    status: str
    reason: str
    message: str


class NodeSpec(TypedDict, total=False):
    """The part of a Node's spec the engine changes."""

    unschedulable: bool


class RuntimeHandler(TypedDict, total=False):
    """A ``status.runtimeHandlers`` entry."""

    name: str


class NodeStatus(TypedDict, total=False):
    """A Node's readiness and runtime handlers."""

    conditions: list[Condition]
    runtimeHandlers: list[RuntimeHandler]


class Node(TypedDict, total=False):
    """A Node (``facts`` reads the rest of it, the way the collector does)."""

    metadata: ObjectMeta
    spec: NodeSpec
    status: NodeStatus


class Container(TypedDict, total=False):
    """A container of a pod template."""

    name: str
    image: str
    command: list[str]


class Toleration(TypedDict, total=False):
    """A pod's toleration of a taint."""

    key: str
    operator: str
    effect: str


class PodSpec(TypedDict, total=False):
    """Where a pod runs, and what."""

    nodeName: str
    nodeSelector: dict[str, str]
    runtimeClassName: str
    restartPolicy: str
    activeDeadlineSeconds: int
    tolerations: list[Toleration]
    initContainers: list[Container]
    containers: list[Container]


class Waiting(TypedDict, total=False):
    """A waiting container's reason (``CrashLoopBackOff``)."""

    reason: str
    message: str


class ContainerState(TypedDict, total=False):
    """A container's state; only waiting matters here."""

    waiting: Waiting


class ContainerStatus(TypedDict, total=False):
    """A ``status.containerStatuses`` entry."""

    state: ContainerState


class PodStatus(TypedDict, total=False):
    """A pod's phase, readiness and container states."""

    phase: str
    conditions: list[Condition]
    containerStatuses: list[ContainerStatus]


class Pod(TypedDict, total=False):
    """A Pod."""

    apiVersion: str
    kind: str
    metadata: ObjectMeta
    spec: PodSpec
    status: PodStatus


class PodTemplate(TypedDict, total=False):
    """A DaemonSet's or Job's pod template."""

    metadata: ObjectMeta
    spec: PodSpec


class LabelSelector(TypedDict, total=False):
    """A selector by labels."""

    matchLabels: dict[str, str]


class UpdateStrategy(TypedDict, total=False):
    """A DaemonSet's update strategy: fleetctl needs ``OnDelete``."""

    type: str


class DaemonSetSpec(TypedDict, total=False):
    """kata-deploy's DaemonSet spec."""

    selector: LabelSelector
    updateStrategy: UpdateStrategy
    template: PodTemplate


class DaemonSetStatus(TypedDict, total=False):
    """Whether the controller has seen the template."""

    observedGeneration: int


class DaemonSet(TypedDict, total=False):
    """A DaemonSet."""

    metadata: ObjectMeta
    spec: DaemonSetSpec
    status: DaemonSetStatus


class JobSpec(TypedDict, total=False):
    """An install Job's spec."""

    backoffLimit: int
    template: PodTemplate


class JobStatus(TypedDict, total=False):
    """An install Job's progress."""

    succeeded: int
    conditions: list[Condition]


class Job(TypedDict, total=False):
    """A Job."""

    apiVersion: str
    kind: str
    metadata: ObjectMeta
    spec: JobSpec
    status: JobStatus


class ConfigMap(TypedDict, total=False):
    """A ConfigMap (job mode's templates)."""

    metadata: ObjectMeta
    data: dict[str, str]


class ClusterAPI(Protocol):
    """One cluster, as the executor of one run uses it. Every method is idempotent."""

    cluster: str
    run_id: int
    marker: str  # the value of our cordon annotation: ``run-<id>``

    def begin_many(self, action: str, targets: Sequence[str], reason: str) -> list[str]:
        """Audit rows for writes about to be sent, in one commit; their keys."""
        ...

    def node(self, name: str) -> Node:
        """The Node object."""
        ...

    def list_nodes(self) -> Iterator[list[Node]]:
        """Every Node, page by page."""
        ...

    def facts(self, node: Node, pins: dict[str, str]) -> NodeFacts:
        """What the node reports, read the way the collector reads it."""
        ...

    def trace(self, name: str, step: Step) -> None:
        """Annotate the node with the run and its current step."""
        ...

    def mark_installed(self, name: str, release: str) -> None:
        """Record on the node that an install of ``release`` finished now."""
        ...

    def cordon(self, name: str, seen: Node | None = None, *, next_step: Step = Step.DRAIN) -> bool:
        """Cordon it unless someone else has; True when the cordon is ours."""
        ...

    def uncordon(self, name: str, step: NodeMark = Step.DONE, *, ours: bool | None = None) -> bool:
        """Undo our cordon (never someone else's); True when it did."""
        ...

    def wait_node(self, name: str, ready: Callable[[Node], bool], seconds: float) -> Node | None:
        """Watch the node up to ``seconds`` until ``ready``; the node, or None."""
        ...

    def event(self, name: str, uid: str | None, reason: str, message: str, *, warning: bool = False) -> None:
        """Write an Event about the node."""
        ...

    def pods_on(self, name: str, label_selector: str | None = None) -> list[Pod]:
        """The node's pods (with a label selector)."""
        ...

    def pod_list(self, name: str, label_selector: str | None = None) -> tuple[list[Pod], str]:
        """The node's pods and the list's resourceVersion."""
        ...

    def wait_pods_gone(self, name: str, uids: set[str], version: str, seconds: float) -> bool:
        """Watch up to ``seconds`` until none of ``uids`` is left; True when none is."""
        ...

    def evict(self, pod: Pod, grace: int | None, key: str | None = None) -> Eviction:
        """Evict: evicted, blocked (a PodDisruptionBudget said 429) or gone."""
        ...

    def delete_pod(
        self, namespace: str, name: str, *, grace: int | None = None, reason: str = "", key: str | None = None
    ) -> bool:
        """Delete a pod; False when it was gone already."""
        ...

    def pod(self, namespace: str, name: str) -> Pod | None:
        """A pod, or None."""
        ...

    def create_pod(self, pod: Pod, *, reason: str) -> None:
        """Create a pod (nothing when it exists)."""
        ...

    def daemonset(self, namespace: str, name: str) -> DaemonSet:
        """A DaemonSet."""
        ...

    def set_image(self, ds: DaemonSet, image: str, *, reason: str) -> None:
        """Set the DaemonSet's first container image."""
        ...

    def find_daemonset(self, namespace: str, name: str) -> DaemonSet | None:
        """A DaemonSet, or None."""
        ...

    def config_map(self, namespace: str, name: str) -> ConfigMap | None:
        """A ConfigMap, or None."""
        ...

    def job(self, namespace: str, name: str) -> Job | None:
        """A Job, or None."""
        ...

    def create_job(self, job: Job, *, reason: str) -> None:
        """Create a Job (nothing when it exists)."""
        ...

    def delete_job(self, namespace: str, name: str, *, reason: str) -> None:
        """Delete a Job and its pods."""
        ...

    def label_node(self, name: str, key: str, value: str | None, *, reason: str) -> None:
        """Set (None: remove) one label of the node."""
        ...


class Installer(Protocol):
    """How one node gets the target release (``spec.install.mechanism``): ``upgrades.installs``."""

    def install(
        self,
        ops: ClusterAPI,
        node: str,
        target: str,
        *,
        started: Callable[[], None] = ...,
        stop_check: Callable[[], None] = ...,
    ) -> None:
        """Install ``target`` on the cordoned, drained ``node`` and return once it reports it;
        ``started`` when the install began, ``stop_check`` raises when the run is stopping."""
        ...


class RunLock(Protocol):
    """One executor per run: taken, renewed while it works, given back."""

    def acquire(self) -> None:
        """Take it, or raise ``BusyError``."""
        ...

    def renew(self) -> bool:
        """Renew it; False when another executor has it now."""
        ...

    def release(self) -> None:
        """Give it back."""
        ...


class Metrics(Protocol):
    """Sample values of an instant PromQL query, or why it failed (what gates measure)."""

    def values(self, promql: str) -> list[float] | str:
        """The samples, or the reason there are none."""
        ...

    def scrape_errors(self) -> dict[str, str] | None:
        """``{node: last scrape error}`` of the kata-monitor targets that are down; None: it cannot say."""
        ...


@dataclass(frozen=True)
class Ports:
    """How an executor reaches the world, for a run id: each cluster's API, the run's lock, and
    the metrics its gates read (None: the plan's Prometheus settings decide)."""

    cluster: Callable[[str, int], ClusterAPI]
    lock: Callable[[Sequence[str], int], RunLock]
    metrics: Metrics | None = None
