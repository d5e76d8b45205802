"""One inventory collection of one cluster: list nodes and the pods that matter (paged), write what changed.

The pods are read by selector and reduced at once to what each node needs (``pods``): its
kata-deploy pod's release, state and start, its Cloud API Adaptor release, its kata-monitor pod's
namespace, how many Kata pods it runs and when they started (to count those older than the node's
last install), and its peer pods. Temporary API errors are retried with backoff and counted; if a
list still fails, nothing is written, and the store keeps the last good collection.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from clients.kube.client import KubeClient
from clients.kube.errors import KubeApiError, KubePermanentError, KubeTemporaryError
from collectors.inventory.nodefacts import NodeExtras, build_facts
from collectors.inventory.pods import DEFAULT_SELECTORS, NodePods, PodSelectors, read_pods
from store.engine import Store
from store.facts import NodeFacts
from store.snapshots import SnapshotResult, record_snapshot

T = TypeVar("T")


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


def peerpods_refusal(refused: Sequence[KubePermanentError]) -> tuple[str, str | None] | None:
    """What to report when the PeerPods list was refused: the error and its hint (None: not refused)."""
    if not refused:
        return None
    last = refused[-1]
    where = f"{last.where}: " if last.where else ""
    return f"peer pods were counted from kata-remote pods, PeerPods were not read: {where}{last.message}", last.hint


def facts_from(
    raw_nodes: list[dict[str, Any]], accumulators: Mapping[str, NodePods], pins: Mapping[str, str]
) -> list[NodeFacts]:
    """Every node's facts from its Node object and its pods' record."""
    has_caa = any(a.caa_version for a in accumulators.values())
    facts = []
    for node in raw_nodes:
        name = (node.get("metadata") or {}).get("name")
        acc = accumulators.get(name or "", NodePods())
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


def gather_facts(
    client: KubeClient, pins: Mapping[str, str], retrier: _Retrier, selectors: PodSelectors = DEFAULT_SELECTORS
) -> tuple[list[NodeFacts], int]:
    """Read the pods that matter, then the nodes, page by page: each page of Node objects becomes
    facts at once, so no more than one page of them is held. Returns every node's facts and how
    many pods were read."""
    accumulators, pods = read_pods(client, retrier.run, retrier.refused, selectors)
    facts: list[NodeFacts] = []
    for page in client.list_pages("/api/v1/nodes", retry=retrier.run):
        facts += facts_from(page.get("items") or [], accumulators, pins)
    return facts, pods


def collect_cluster(
    client: KubeClient,
    store: Store,
    pins: Mapping[str, str],
    *,
    retry: RetryPolicy | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    selectors: PodSelectors = DEFAULT_SELECTORS,
) -> CollectResult:
    """Collect one cluster into the store. Failures are reported in the result, not raised."""
    started = time.monotonic()
    retrier = _Retrier(retry or RetryPolicy())
    result = CollectResult(cluster=client.name, snapshot=None)
    asked_again = client.retries  # the client asks again after a 5xx itself; those count as retried too
    try:
        facts, result.pods = gather_facts(client, pins, retrier, selectors)
        result.nodes = len(facts)
        with store.write() as session:
            result.snapshot = record_snapshot(session, client.name, facts, at=now(), server=client.context.server)
        refusal = peerpods_refusal(retrier.refused)  # the facts stand; peer pods were counted from kata-remote pods
        if refusal is not None:
            result.error, result.hint = refusal
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
