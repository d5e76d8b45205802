"""One round of health checks for one cluster: gather inputs, evaluate rules, record results."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from clients.kube.client import KubeClient
from clients.kube.errors import KubeApiError
from clients.prom import PromSource, Sample
from collectors.health.rules import NodeInputs, evaluate, summarize
from collectors.health.thresholds import Thresholds
from store.engine import Store
from store.health import record_checks
from store.models import Cluster, Node, NodeState

SANDBOX_EVENT_WINDOW = timedelta(hours=1)


@dataclass
class HealthResult:
    """What one round found and wrote."""

    cluster: str
    nodes: int = 0
    checks_written: int = 0
    transitions: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    query_failures: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _node_inputs(store: Store, cluster: str) -> dict[str, NodeInputs]:
    with store.read() as session:
        rows = session.execute(
            sa.select(
                col(Node.name),
                col(NodeState.ready),
                col(NodeState.conditions),
                col(NodeState.drift),
                col(NodeState.arch),
                col(NodeState.kata_version),
                col(NodeState.runtime_handlers),
                col(NodeState.kata_pods),
                col(NodeState.kata_monitor_namespace),
                col(NodeState.caa_version),
            )
            .join(NodeState, col(NodeState.node_id) == col(Node.id))
            .join(Cluster, col(Cluster.id) == col(Node.cluster_id))
            .where(col(Cluster.name) == cluster, col(Node.gone_at).is_(None))
        ).all()
    monitors = tuple(sorted({row.kata_monitor_namespace for row in rows if row.kata_monitor_namespace}))
    return {
        row.name: NodeInputs(
            ready=row.ready,
            conditions=row.conditions or [],
            drift=row.drift or [],
            arch=row.arch,
            kata_version=row.kata_version,
            handlers=tuple(row.runtime_handlers or ()),
            kata_pods=row.kata_pods,
            monitor_namespace=row.kata_monitor_namespace,
            monitor_namespaces=monitors,
            caa_version=row.caa_version,
        )
        for row in rows
    }


def sandbox_failures(kube: KubeClient, now: datetime) -> dict[str, int]:
    """FailedCreatePodSandBox events per node in the last hour."""
    since = now - SANDBOX_EVENT_WINDOW
    counts: dict[str, int] = {}
    for page in kube.list_pages("/api/v1/events", {"fieldSelector": "reason=FailedCreatePodSandBox"}):
        for event in page.get("items") or []:
            host = (event.get("source") or {}).get("host") or event.get("reportingInstance")
            stamp = (
                event.get("lastTimestamp")
                or event.get("eventTime")
                or (event.get("metadata") or {}).get("creationTimestamp")
            )
            try:
                when = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
            except ValueError:
                continue
            if host and when >= since:
                counts[host] = counts.get(host, 0) + int(event.get("count") or 1)
    return counts


def check_cluster(
    store: Store,
    cluster: str,
    *,
    prom: PromSource | None,
    kube: KubeClient | None,
    thresholds: Thresholds,
    now: datetime | None = None,
) -> HealthResult:
    """Evaluate and record every node's checks; Prometheus and Kubernetes failures become unknowns."""
    started = time.monotonic()
    now = now or datetime.now(UTC)
    result = HealthResult(cluster=cluster)
    nodes = _node_inputs(store, cluster)
    if kube is not None:
        try:
            for name, count in sandbox_failures(kube, now).items():
                if name in nodes:
                    nodes[name].sandbox_failures = count
        except KubeApiError as exc:
            result.query_failures.append(f"events: {exc.message}")
    if prom is not None:
        _measure(prom, nodes, result)
    checks = {name: evaluate(inputs, thresholds) for name, inputs in nodes.items()}
    with store.write() as session:
        written = record_checks(session, cluster, checks, at=now)
    result.nodes = len(nodes)
    result.checks_written, result.transitions = written.checks, written.transitions
    result.by_status = summarize(checks)
    result.seconds = time.monotonic() - started
    return result


def _measure(prom: PromSource, nodes: dict[str, NodeInputs], result: HealthResult) -> None:
    answers: dict[str, dict[str, Sample] | str] = {name: prom.query(q) for name, q in prom.promql().items()}
    for name, answer in answers.items():
        if isinstance(answer, str):
            result.query_failures.append(f"{name}: {answer}")
    up = answers["up"]
    down = isinstance(up, dict) and any(s.value == 0 for s in up.values())
    errors = (prom.scrape_errors() or {}) if down else {}
    for node, inputs in nodes.items():
        inputs.scrape_error = errors.get(node)
        inputs.targeted = node in up if isinstance(up, dict) else True
        updates: dict[str, Any] = {}
        for name, answer in answers.items():
            updates[name] = Sample(failed=answer) if isinstance(answer, str) else answer.get(node, Sample())
        for key, value in updates.items():
            setattr(inputs, key, value)
