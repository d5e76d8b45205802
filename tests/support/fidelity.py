"""The in-memory simulator measured against the real API server: replay what clients asked the real one.

The real control plane's audit log holds every request of the admin user in full (URI, body,
status and answer). ``replay`` sends each again to an in-memory simulator of the same fleet and
compares the status codes and the fields clients read (``READ``): for a list, the names of its
items; for an object, which of those fields are there; for a Table, its columns and row count;
for a Status, its code and reason. Differences that are known and accepted are in ``KNOWN``,
each with its reason, and docs/simulator.md lists them too.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.server import Simulator

METHODS = {"get": "GET", "list": "GET", "create": "POST", "update": "PUT", "patch": "PATCH", "delete": "DELETE"}
READ: dict[str, tuple[str, ...]] = {
    "Node": (
        "metadata.labels", "metadata.annotations", "metadata.uid", "metadata.resourceVersion", "spec.unschedulable",
        "spec.taints", "status.conditions", "status.nodeInfo", "status.capacity", "status.allocatable",
        "status.runtimeHandlers", "status.addresses",
    ),
    "Pod": (
        "metadata.labels", "metadata.ownerReferences", "metadata.uid", "spec.nodeName", "spec.containers",
        "spec.runtimeClassName", "status.phase", "status.conditions", "status.containerStatuses", "status.startTime",
    ),
    "DaemonSet": ("spec.template", "spec.updateStrategy", "spec.selector", "status.desiredNumberScheduled", "status.numberReady"),
    "PodDisruptionBudget": ("spec.selector", "status.disruptionsAllowed", "status.currentHealthy", "status.desiredHealthy"),
    "Namespace": ("metadata.name", "status.phase"),
}  # fmt: skip
KNOWN: dict[str, str] = {
    # "what differs" -> why it is accepted (docs/simulator.md lists these too)
    "EventList items": "the real controllers record events of their own (RegisteredNode, UnmanagedPods, ...)",
    "status code of get /apis/GROUP/VERSION": "only the groups of the resources it has are served; discovery says which",
    "APIGroupDiscoveryList items": "the same: its discovery lists only the groups it serves",
}


@dataclass(frozen=True)
class Difference:
    """One request whose answer differed."""

    request: str
    what: str
    real: Any
    memory: Any

    def key(self) -> str:
        """The ``KNOWN`` key this difference would be listed under."""
        return self.what


def _path(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def shape(answer: Any) -> dict[str, Any]:
    """What clients read of an answer."""
    if not isinstance(answer, dict):
        return {"body": type(answer).__name__}
    kind = str(answer.get("kind", ""))
    if kind == "Table":
        return {"kind": kind, "columns": [c.get("name") for c in answer.get("columnDefinitions") or []],
                "rows": len(answer.get("rows") or [])}  # fmt: skip
    if kind == "Status":
        return {"kind": kind, "code": answer.get("code"), "reason": answer.get("reason")}
    if "items" in answer:
        return {"kind": kind, "items": sorted((i.get("metadata") or {}).get("name", "") for i in answer["items"] or [])}
    item_kind = kind
    return {
        "kind": kind,
        "name": (answer.get("metadata") or {}).get("name"),
        "fields": sorted(p for p in READ.get(item_kind, ()) if _path(answer, p) not in (None, [], {})),
    }


def audit_requests(log: Path, user: str = "fleetctl-admin") -> list[dict[str, Any]]:
    """The user's finished requests (no watches), in order, from a real API server's audit log."""
    out = []
    for line in log.read_text().splitlines():
        event = json.loads(line)
        if event.get("stage") != "ResponseComplete" or (event.get("user") or {}).get("username") != user:
            continue
        if (event.get("verb") in METHODS and "responseObject" in event) or event.get("verb") in (
            "create",
            "patch",
            "delete",
        ):
            out.append(event)
    return out


def _send(sim: Simulator, event: dict[str, Any]) -> tuple[int, Any]:
    assert sim.ca_path is not None
    body = event.get("requestObject")
    method = METHODS[event["verb"]]
    data = json.dumps(body).encode() if body is not None and method != "GET" else None
    req = urllib.request.Request(f"{sim.url}{event['requestURI']}", data=data, method=method)
    req.add_header("Authorization", f"Bearer {sim.token}")
    agent = str(event.get("userAgent", ""))
    answered = (event.get("responseObject") or {}).get("kind")  # the audit keeps no Accept: the answer tells
    if answered == "Table":
        req.add_header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
    elif answered == "APIGroupDiscoveryList":
        req.add_header(
            "Accept", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
        )
    if data is not None:
        patch = (
            "application/json-patch+json"
            if isinstance(body, list)
            else (
                "application/strategic-merge-patch+json"
                if agent.startswith("kubectl")
                else "application/merge-patch+json"
            )
        )
        req.add_header("Content-Type", patch if method == "PATCH" else "application/json")  # fmt: skip
    ctx = ssl.create_default_context(cafile=str(sim.ca_path))
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def replay(events: list[dict[str, Any]], memory: Simulator) -> tuple[int, list[Difference]]:
    """Send each recorded request to ``memory``; how many were replayed, and what differed."""
    differences: list[Difference] = []
    for event in events:
        request = f"{event['verb']} {event['requestURI'].split('?')[0]}"
        code, answer = _send(memory, event)
        real_code = (event.get("responseStatus") or {}).get("code")
        if code != real_code:
            resource = (event.get("objectRef") or {}).get("resource")
            uri = event["requestURI"].split("?")[0]
            what = f"status code of {event['verb']} {resource}" if resource else f"status code of get {uri}"
            if not resource and uri.startswith("/apis/") and uri.count("/") == 3:
                what = "status code of get /apis/GROUP/VERSION"
            differences.append(Difference(request, what, real_code, code))
            continue
        if "responseObject" not in event:
            continue
        real, mine = shape(event["responseObject"]), shape(answer)
        if real.get("kind") != mine.get("kind"):
            differences.append(Difference(request, "kind", real.get("kind"), mine.get("kind")))
        for key in ("items", "columns", "rows", "name", "code", "reason"):
            if real.get(key) != mine.get(key):
                differences.append(Difference(request, f"{real.get('kind')} {key}", real.get(key), mine.get(key)))
        for missing in sorted(set(real.get("fields", ())) - set(mine.get("fields", ()))):
            differences.append(Difference(request, f"{real.get('kind')} {missing}", "present", "missing"))
    return len(events), differences
