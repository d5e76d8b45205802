"""The reference for the collector's reads: every pod listed and folded by its default labels, as the
collector did before it read only what it needs (server-side selectors). Tests compare the two."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from clients.kube.annotations import parse_timestamp
from clients.kube.client import KubeClient
from collectors.inventory.caa import resolve_caa_image
from collectors.inventory.nodefacts import NodeExtras, build_facts
from store.facts import NodeFacts
from store.images import image_tag

PEERPODS = "/apis/confidentialcontainers.org/v1alpha1/peerpods"


def _pages(client: KubeClient, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token = ""
    while True:
        page = json.loads(json.dumps(client.get(path, {"limit": 500, **({"continue": token} if token else {})})))
        items += page.get("items") or []
        token = (page.get("metadata") or {}).get("continue") or ""
        if not token:
            return items


def _state(pod: Mapping[str, Any]) -> str:
    for cs in pod["status"].get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting:
            return str(waiting.get("reason") or "Waiting")
    return str(pod["status"].get("phase") or "Unknown")


def reference_facts(client: KubeClient, pins: Mapping[str, str]) -> dict[str, NodeFacts]:
    """Every node's facts from a list of all nodes and all pods (and the PeerPods, where served)."""
    per_node: dict[str, dict[str, Any]] = {}
    remote: dict[tuple[str, str], str] = {}
    for pod in _pages(client, "/api/v1/pods"):
        meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
        node = spec.get("nodeName")
        if not node:
            continue
        n = per_node.setdefault(node, {"starts": [], "unknown": False, "kata": 0, "peer": 0})
        labels, image = meta.get("labels") or {}, str((spec.get("containers") or [{}])[0].get("image", ""))
        if labels.get("name") == "kata-deploy":
            if not meta.get("deletionTimestamp"):
                n["deploy"], n["deploy_state"] = image_tag(image), _state(pod)
                n["deploy_started"] = (
                    parse_timestamp(status.get("startTime")) if status.get("phase") == "Running" else None
                )
        elif labels.get("app") == "cloud-api-adaptor":
            caa = resolve_caa_image(image)
            n["caa"] = caa.shown if caa else None
        elif labels.get("app.kubernetes.io/name") == "kata-monitor" or labels.get("name") == "kata-monitor":
            if not meta.get("deletionTimestamp"):
                n["monitor"] = meta.get("namespace") or None
        else:
            rc, phase = spec.get("runtimeClassName"), status.get("phase")
            if rc == "kata-remote" and phase in ("Pending", "Running"):
                n["peer"] += 1
                remote[(meta["namespace"], meta["name"])] = node
            if isinstance(rc, str) and rc.startswith("kata") and phase == "Running":
                n["kata"] += 1
                started = parse_timestamp(status.get("startTime"))
                n["unknown"] |= started is None
                if started is not None:
                    n["starts"].append(started)
    try:
        peerpods = _pages(client, PEERPODS)
    except Exception:  # noqa: BLE001 - no CRD: the kata-remote pods stand in
        peerpods = None
    if peerpods is not None:
        for n in per_node.values():
            n["peer"] = 0
        for pp in peerpods:
            meta = pp["metadata"]
            owner = next((o for o in meta.get("ownerReferences") or [] if o.get("kind") == "Pod"), {})
            node = remote.get((meta["namespace"], owner.get("name") or meta["name"]))
            if node:
                per_node[node]["peer"] += 1
    has_caa = any(n.get("caa") for n in per_node.values())
    facts = {}
    for raw in _pages(client, "/api/v1/nodes"):
        n = per_node.get(raw["metadata"]["name"], {"starts": [], "unknown": False, "kata": 0, "peer": 0})
        starts: tuple[datetime, ...] | None = None if n["unknown"] else tuple(n["starts"])
        extras = NodeExtras(
            n.get("deploy"),
            n.get("deploy_state"),
            n.get("caa"),
            n["peer"] if has_caa or n["peer"] else None,
            n.get("deploy_started"),
            starts,
            kata_pods=n["kata"],
            monitor_namespace=n.get("monitor"),
        )
        fact = build_facts(raw, extras, pins)
        facts[fact.name] = fact
    return facts
