"""Kubernetes Events about nodes: those on a Node, and Warnings on the pods a node runs.

Two filtered lists per collection (``involvedObject.kind=Node`` and ``type=Warning``); a pod's
event belongs to the node in its ``source.host``, where the kubelet reports it (for example a
FailedCreatePodSandBox when a Kata handler is missing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from clients.kube.client import KubeClient, Retry
from store.events import EventRecord

QUERIES = ({"fieldSelector": "involvedObject.kind=Node"}, {"fieldSelector": "type=Warning"})


def gather_events(client: KubeClient, retry: Retry) -> list[EventRecord]:
    """Every node-related event the API server still holds (it keeps about an hour)."""
    seen: dict[str, EventRecord] = {}
    for params in QUERIES:
        for page in client.list_pages("/api/v1/events", params, retry=retry):
            for record in to_records(page.get("items") or []):
                seen[record.uid] = record
    return list(seen.values())


def to_records(items: Iterable[Mapping[str, Any]]) -> Iterable[EventRecord]:
    """Events reduced to records, skipping ones that name no node or no time."""
    for ev in items:
        obj = ev.get("involvedObject") or {}
        meta = ev.get("metadata") or {}
        if obj.get("kind") == "Node":
            node, what = obj.get("name"), "Node"
        else:
            node = (ev.get("source") or {}).get("host") or ev.get("reportingInstance")
            what = f"{obj.get('kind', '?')} {obj.get('namespace', '')}/{obj.get('name', '')}".replace(" /", " ")
        at = _time(
            ev.get("lastTimestamp") or ev.get("eventTime") or ev.get("firstTimestamp") or meta.get("creationTimestamp")
        )
        uid = meta.get("uid") or meta.get("name")
        if not node or not uid or at is None:
            continue
        yield EventRecord(
            node=str(node), uid=str(uid)[:64], at=at, type=str(ev.get("type") or "Normal"),
            reason=str(ev.get("reason") or ""), message=str(ev.get("message") or ""),
            count=int(ev.get("count") or 1), object=what,
        )  # fmt: skip


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None
