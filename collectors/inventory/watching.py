"""``collect --watch``: per cluster, informers for nodes and the pods that matter, written every interval."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from clients.kube.client import KubeClient
from clients.kube.decode import convert
from clients.kube.errors import KubeApiError
from clients.kube.objects import Pod
from collectors.inventory.collector import CollectResult, RetryPolicy, _Retrier, facts_from, peerpods_refusal
from collectors.inventory.informer import Informer, NodeInformer
from collectors.inventory.pods import DEFAULT_SELECTORS, NodePods, PodSelectors, Role, fold, labelled_reads, read_pods
from store.engine import Store
from store.snapshots import record_snapshot


def _watch_all(informers: list[Informer], deadline: float) -> None:
    """Let every informer apply its events until ``deadline``, in parallel."""
    threads = [threading.Thread(target=i.watch_until, args=(deadline,), daemon=True) for i in informers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _merge(peer_counts: Mapping[str, NodePods], pod_informers: list[tuple[Role, Informer]]) -> dict[str, NodePods]:
    """Per-node records: kata-deploy, CAA and kata-monitor pods from the informers; peer pods and
    Kata pods (their count and start times) from the last full read."""
    merged = {
        node: NodePods(
            peerpods=acc.peerpods,
            kata_starts=list(acc.kata_starts),
            kata_start_unknown=acc.kata_start_unknown,
            kata_pods=acc.kata_pods,
        )
        for node, acc in peer_counts.items()
    }
    for role, informer in pod_informers:
        for pod in informer.objects.values():
            fold(convert(pod, Pod), role, merged)
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
    selectors: PodSelectors = DEFAULT_SELECTORS,
) -> NodeInformer:
    """Collect ``client``'s cluster every ``interval`` seconds until ``stop`` is set.

    Nodes, and the kata-deploy, Cloud API Adaptor and kata-monitor pods (by the same selectors as a
    single collection), each have an informer (list once, then watch), so an install that starts,
    fails or finishes shows at the next write. Peer-pod counts and Kata pods' start times need every
    Running pod, so they come from a full read every ``pods_every`` rounds. Each round's ``seconds`` counts the work after the watch wait, so it
    says what an unchanged round costs. A refused PeerPods list is reported as a single collection
    reports it (``error`` and ``hint``, beside the facts written), in the first round that can say so,
    and again only when the refusal changes.
    """
    policy = retry or RetryPolicy()
    nodes = NodeInformer(client, policy)
    labelled = [
        (role, Informer(client, policy, "/api/v1/pods", {"labelSelector": selector}))
        for role, selector in labelled_reads(selectors)
    ]
    pods = [informer for _, informer in labelled]
    peer_counts: dict[str, NodePods] = {}
    refusal: tuple[str, str | None] | None = None  # of the last full read of pods
    reported: tuple[str, str | None] | None = None
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
                peer_counts, running = read_pods(client, retrier.run, retrier.refused, selectors, watched=True)
                result.pods = running + sum(len(i.objects) for i in pods)
                refusal = peerpods_refusal(retrier.refused)
            facts = facts_from(list(nodes.nodes.values()), _merge(peer_counts, labelled), pins)
            result.nodes = len(facts)
            with store.write() as session:
                result.snapshot = record_snapshot(
                    session, client.name, facts, at=datetime.now(UTC), server=client.context.server
                )
        except KubeApiError as exc:
            result.error = str(exc)
        if result.error is None and refusal != reported:  # the facts stand; peer pods came from kata-remote pods
            reported = refusal
            if refusal is not None:
                result.error, result.hint = refusal
        result.errors_retried = retrier.retried + sum(i.errors_retried for i in (nodes, *pods))
        for informer in (nodes, *pods):
            informer.errors_retried = 0
        result.api_requests = client.requests
        result.seconds = time.monotonic() - started
        on_round(result)
        rounds += 1
        if result.snapshot is None:  # nothing written: back off before the next try
            stop.wait(min(interval, 5.0))
    return nodes
