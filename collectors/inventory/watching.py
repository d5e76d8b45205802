"""``collect --watch``: per cluster, informers for nodes and the pods that matter, written every interval."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from clients.kube.client import KubeClient
from clients.kube.errors import KubeApiError
from collectors.inventory.collector import (
    CAA_LABEL,
    DEPLOY_LABEL,
    CollectResult,
    RetryPolicy,
    _NodeAccumulator,
    _Retrier,
    facts_from,
    pod_summary,
    reduce_pod,
)
from collectors.inventory.informer import Informer, NodeInformer
from store.engine import Store
from store.snapshots import record_snapshot


def _watch_all(informers: list[Informer], deadline: float) -> None:
    """Let every informer apply its events until ``deadline``, in parallel."""
    threads = [threading.Thread(target=i.watch_until, args=(deadline,), daemon=True) for i in informers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _merge(peer_counts: Mapping[str, _NodeAccumulator], pod_informers: list[Informer]) -> dict[str, _NodeAccumulator]:
    """Per-node records: kata-deploy and CAA pods from the informers; peer pods, Kata pods (their
    count and start times) and kata-monitor's namespace from the last full summary."""
    merged = {
        node: _NodeAccumulator(
            peerpods=acc.peerpods,
            kata_starts=list(acc.kata_starts),
            kata_start_unknown=acc.kata_start_unknown,
            kata_pods=acc.kata_pods,
            monitor_namespace=acc.monitor_namespace,
        )
        for node, acc in peer_counts.items()
    }
    for informer in pod_informers:
        for pod in informer.objects.values():
            reduce_pod(pod, merged)
    return merged


def watch_cluster(
    client: KubeClient,
    store: Store,
    pins: Mapping[str, str],
    *,
    interval: float,
    stop: threading.Event,
    on_round: Callable[[CollectResult], None],
    pods_every: int = 10,
    retry: RetryPolicy | None = None,
) -> NodeInformer:
    """Collect ``client``'s cluster every ``interval`` seconds until ``stop`` is set.

    Nodes, kata-deploy pods and Cloud API Adaptor pods each have an informer (list once, then
    watch), so an install that starts, fails or finishes shows at the next write. Peer-pod counts
    and Kata pods' start times need every pod, so they come from a full pod summary every
    ``pods_every`` rounds. Each round's ``seconds`` counts the work after the watch wait, so it
    says what an unchanged round costs.
    """
    policy = retry or RetryPolicy()
    nodes = NodeInformer(client, policy)
    pods = [
        Informer(client, policy, "/api/v1/pods", {"labelSelector": f"{key}={value}"})
        for key, value in (DEPLOY_LABEL, CAA_LABEL)
    ]
    peer_counts: dict[str, _NodeAccumulator] = {}
    rounds = 0
    while not stop.is_set():
        started = time.monotonic()
        result = CollectResult(cluster=client.name, snapshot=None)
        retrier = _Retrier(policy)
        try:
            if rounds == 0:
                for informer in (nodes, *pods):
                    informer.relist()
            else:
                _watch_all([nodes, *pods], started + interval)
                started = time.monotonic()  # a round's cost is its work, not the wait for events
            if rounds % pods_every == 0:
                peer_counts, result.pods = pod_summary(client, retrier)
            facts = facts_from(list(nodes.nodes.values()), _merge(peer_counts, pods), pins)
            result.nodes = len(facts)
            with store.write() as session:
                result.snapshot = record_snapshot(
                    session, client.name, facts, at=datetime.now(UTC), server=client.context.server
                )
        except KubeApiError as exc:
            result.error = str(exc)
        result.errors_retried = retrier.retried + sum(i.errors_retried for i in (nodes, *pods))
        for informer in (nodes, *pods):
            informer.errors_retried = 0
        result.api_requests = client.requests
        result.seconds = time.monotonic() - started
        on_round(result)
        rounds += 1
        if result.error:
            stop.wait(min(interval, 5.0))
    return nodes
