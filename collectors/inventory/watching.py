"""``collect --watch``: per cluster, a node informer plus a periodic pod summary, written every interval."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from collectors.inventory.collector import (
    CollectResult,
    RetryPolicy,
    _NodeAccumulator,
    _Retrier,
    facts_from,
    pod_summary,
)
from collectors.inventory.informer import NodeInformer
from collectors.kube.client import KubeClient
from collectors.kube.errors import KubeApiError
from store.engine import Store
from store.snapshots import record_snapshot


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

    Each round's ``seconds`` counts the work done after the watch wait (events are applied
    as they arrive), so it says what an unchanged round costs.

    Nodes come from the informer (list once, then watch); pods are summarised every
    ``pods_every`` rounds, because kata-deploy pods change only when someone upgrades.
    """
    informer = NodeInformer(client, retry or RetryPolicy())
    accumulators: dict[str, _NodeAccumulator] = {}
    rounds = 0
    while not stop.is_set():
        started = time.monotonic()
        result = CollectResult(cluster=client.name, snapshot=None)
        retrier = _Retrier(informer.retry)
        try:
            if rounds == 0:
                informer.relist()
            else:
                informer.watch_until(started + interval)
                started = time.monotonic()  # a round's cost is its work, not the wait for events
            if rounds % pods_every == 0:
                accumulators, result.pods = pod_summary(client, retrier)
            facts = facts_from(list(informer.nodes.values()), accumulators, pins)
            result.nodes = len(facts)
            with store.write() as session:
                result.snapshot = record_snapshot(
                    session, client.name, facts, at=datetime.now(UTC), server=client.context.server
                )
        except KubeApiError as exc:
            result.error = str(exc)
        result.errors_retried = retrier.retried + informer.errors_retried
        informer.errors_retried = 0
        result.api_requests = client.requests
        result.seconds = time.monotonic() - started
        on_round(result)
        rounds += 1
        if result.error:
            stop.wait(min(interval, 5.0))
    return informer
