"""What the upgrade engine asks of the world, as Protocols: each cluster's API, and the run's lock.

``ClusterOps`` (the Kubernetes API, every write audited) and ``RunLease`` (a Lease plus the
store's holder row) are the real implementations; the in-process tests give the engine fakes
with a fake clock (tests/support/fakecluster.py), so drains, installs, verifies, budgets, slots
and gates are tested without a simulator or a subprocess.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from store.facts import NodeFacts

Obj = dict[str, Any]


class ClusterAPI(Protocol):
    """One cluster, as the executor of one run uses it. Every method is idempotent."""

    cluster: str
    run_id: int
    marker: str  # the value of our cordon annotation: ``run-<id>``

    def begin_many(self, action: str, targets: Sequence[str], reason: str) -> list[str]:
        """Audit rows for writes about to be sent, in one commit; their keys."""
        ...

    def node(self, name: str) -> Obj:
        """The Node object."""
        ...

    def list_nodes(self) -> Iterator[list[Obj]]:
        """Every Node, page by page."""
        ...

    def facts(self, node: Obj, pins: dict[str, str]) -> NodeFacts:
        """What the node reports, read the way the collector reads it."""
        ...

    def trace(self, name: str, step: str) -> None:
        """Annotate the node with the run and its current step."""
        ...

    def mark_installed(self, name: str, release: str) -> None:
        """Record on the node that an install of ``release`` finished now."""
        ...

    def cordon(self, name: str, seen: Obj | None = None, *, next_step: str = "drain") -> bool:
        """Cordon it unless someone else has; True when the cordon is ours."""
        ...

    def uncordon(self, name: str, step: str = "done", *, ours: bool | None = None) -> bool:
        """Undo our cordon (never someone else's); True when it did."""
        ...

    def wait_node(self, name: str, ready: Callable[[Obj], bool], seconds: float) -> Obj | None:
        """Watch the node up to ``seconds`` until ``ready``; the node, or None."""
        ...

    def event(self, name: str, uid: str | None, reason: str, message: str, *, warning: bool = False) -> None:
        """Write an Event about the node."""
        ...

    def pods_on(self, name: str, label_selector: str | None = None) -> list[Obj]:
        """The node's pods (with a label selector)."""
        ...

    def pod_list(self, name: str, label_selector: str | None = None) -> tuple[list[Obj], str]:
        """The node's pods and the list's resourceVersion."""
        ...

    def wait_pods_gone(self, name: str, uids: set[str], version: str, seconds: float) -> bool:
        """Watch up to ``seconds`` until none of ``uids`` is left; True when none is."""
        ...

    def evict(self, pod: Obj, grace: int | None, key: str | None = None) -> str:
        """Evict: "evicted", "blocked" (a PodDisruptionBudget said 429) or "gone"."""
        ...

    def delete_pod(
        self, namespace: str, name: str, *, grace: int | None = None, reason: str = "", key: str | None = None
    ) -> bool:
        """Delete a pod; False when it was gone already."""
        ...

    def pod(self, namespace: str, name: str) -> Obj | None:
        """A pod, or None."""
        ...

    def create_pod(self, pod: Obj, *, reason: str) -> None:
        """Create a pod (nothing when it exists)."""
        ...

    def daemonset(self, namespace: str, name: str) -> Obj:
        """A DaemonSet."""
        ...

    def set_image(self, ds: Obj, image: str, *, reason: str) -> None:
        """Set the DaemonSet's first container image."""
        ...

    def find_daemonset(self, namespace: str, name: str) -> Obj | None:
        """A DaemonSet, or None."""
        ...

    def config_map(self, namespace: str, name: str) -> Obj | None:
        """A ConfigMap, or None."""
        ...

    def job(self, namespace: str, name: str) -> Obj | None:
        """A Job, or None."""
        ...

    def create_job(self, job: Obj, *, reason: str) -> None:
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
