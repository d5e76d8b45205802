"""Server-side printing (``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``), as kubectl asks for it.

Columns and cells follow the API server's own printers, so ``kubectl get`` looks as it does
against a real cluster, ``-o wide`` included (priority-1 columns).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from simulator.objectstore import Obj

Column = tuple[str, str, int]  # name, type, priority
Printer = tuple[Sequence[Column], Callable[[Obj, datetime], list[Any]]]


def human_duration(seconds: float) -> str:
    """kubectl's HumanDuration: 45s, 3m20s, 47m, 5h12m, 30h, 6d4h, 200d, 3y10d."""
    s = int(max(0, seconds))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if d < 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if d < 730:
        return f"{d}d"
    y = d // 365
    return f"{y}y{d % 365}d" if y < 8 else f"{y}y"


def _age(obj: Obj, now: datetime, field: str | None = None) -> str:
    stamp = obj.get(field) if field else obj["metadata"].get("creationTimestamp")
    if not stamp:
        return "<unknown>"
    then = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return human_duration((now - then).total_seconds())


def _node_row(o: Obj, now: datetime) -> list[Any]:
    ready = next((c["status"] for c in o["status"].get("conditions", []) if c["type"] == "Ready"), "Unknown")
    status = {"True": "Ready", "False": "NotReady"}.get(ready, "Unknown")
    if o["spec"].get("unschedulable"):
        status += ",SchedulingDisabled"
    roles = sorted(
        k.split("/", 1)[1] for k in o["metadata"].get("labels", {}) if k.startswith("node-role.kubernetes.io/")
    )
    info = o["status"].get("nodeInfo", {})
    internal = next((a["address"] for a in o["status"].get("addresses", []) if a["type"] == "InternalIP"), "<none>")
    external = next((a["address"] for a in o["status"].get("addresses", []) if a["type"] == "ExternalIP"), "<none>")
    return [
        o["metadata"]["name"],
        status,
        ",".join(roles) or "<none>",
        _age(o, now),
        info.get("kubeletVersion", ""),
        internal,
        external,
        info.get("osImage", ""),
        info.get("kernelVersion", ""),
        info.get("containerRuntimeVersion", ""),
    ]


def pod_status(o: Obj) -> str:
    """The STATUS cell kubectl shows for a pod."""
    if o["metadata"].get("deletionTimestamp"):
        return "Terminating"
    status = o.get("status", {})
    for cs in status.get("containerStatuses", []):
        waiting = cs.get("state", {}).get("waiting")
        if waiting:
            return str(waiting.get("reason", "Waiting"))
    phase = status.get("phase", "Pending")
    if phase == "Succeeded":
        return "Completed"
    if phase == "Failed" and status.get("reason"):
        return str(status["reason"])
    if phase == "Pending" and o["spec"].get("nodeName"):
        return "ContainerCreating"
    return str(phase)


def _pod_row(o: Obj, now: datetime) -> list[Any]:
    statuses = o.get("status", {}).get("containerStatuses", [])
    total = len(o["spec"].get("containers", []))
    ready = sum(1 for cs in statuses if cs.get("ready"))
    restarts = sum(int(cs.get("restartCount", 0)) for cs in statuses)
    return [
        o["metadata"]["name"],
        f"{ready}/{total}",
        pod_status(o),
        restarts,
        _age(o, now),
        o.get("status", {}).get("podIP", "<none>"),
        o["spec"].get("nodeName", "<none>"),
        "<none>",
        "<none>",
    ]


def _event_row(o: Obj, now: datetime) -> list[Any]:
    involved = o.get("involvedObject") or o.get("regarding") or {}
    obj_ref = f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}"
    source = o.get("source", {})
    return [
        _age(o, now, "lastTimestamp"),
        o.get("type", ""),
        o.get("reason", ""),
        obj_ref,
        o.get("message") or o.get("note", ""),
        involved.get("fieldPath", ""),
        ", ".join(v for v in (source.get("component"), source.get("host")) if v),
        _age(o, now, "firstTimestamp"),
        o.get("count", 1),
        o["metadata"]["name"],
    ]


def _ds_row(o: Obj, now: datetime) -> list[Any]:
    s, spec = o.get("status", {}), o["spec"]
    selector = spec["template"]["spec"].get("nodeSelector") or {}
    containers = spec["template"]["spec"]["containers"]
    match = ",".join(f"{k}={v}" for k, v in spec["selector"].get("matchLabels", {}).items())
    return [
        o["metadata"]["name"],
        s.get("desiredNumberScheduled", 0),
        s.get("currentNumberScheduled", 0),
        s.get("numberReady", 0),
        s.get("updatedNumberScheduled", 0),
        s.get("numberAvailable", 0),
        ",".join(f"{k}={v}" for k, v in selector.items()) or "<none>",
        _age(o, now),
        ",".join(c["name"] for c in containers),
        ",".join(c["image"] for c in containers),
        match,
    ]


def _job_row(o: Obj, now: datetime) -> list[Any]:
    s, spec = o.get("status") or {}, o["spec"]
    conditions = {c["type"] for c in s.get("conditions", []) if c.get("status") == "True"}
    status = next((t for t in ("Complete", "Failed", "FailureTarget", "SuccessCriteriaMet") if t in conditions), "")
    status = status or ("Suspended" if spec.get("suspend") else "Running")
    duration = ""
    if s.get("startTime"):
        end = s.get("completionTime")
        start = datetime.strptime(s["startTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        stop = datetime.strptime(end, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) if end else now
        duration = human_duration((stop - start).total_seconds())
    containers = spec["template"]["spec"]["containers"]
    match = ",".join(f"{k}={v}" for k, v in (spec.get("selector") or {}).get("matchLabels", {}).items())
    return [
        o["metadata"]["name"],
        status,
        f"{s.get('succeeded', 0)}/{spec.get('completions', 1)}",
        duration,
        _age(o, now),
        ",".join(c["name"] for c in containers),
        ",".join(c["image"] for c in containers),
        match,
    ]


def _pdb_row(o: Obj, now: datetime) -> list[Any]:
    spec = o["spec"]
    return [
        o["metadata"]["name"],
        str(spec.get("minAvailable", "N/A")),
        str(spec.get("maxUnavailable", "N/A")),
        o.get("status", {}).get("disruptionsAllowed", 0),
        _age(o, now),
    ]


PRINTERS: dict[str, Printer] = {
    "Node": (
        (
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Roles", "string", 0),
            ("Age", "string", 0),
            ("Version", "string", 0),
            ("Internal-IP", "string", 1),
            ("External-IP", "string", 1),
            ("OS-Image", "string", 1),
            ("Kernel-Version", "string", 1),
            ("Container-Runtime", "string", 1),
        ),
        _node_row,
    ),
    "Pod": (
        (
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            ("Age", "string", 0),
            ("IP", "string", 1),
            ("Node", "string", 1),
            ("Nominated Node", "string", 1),
            ("Readiness Gates", "string", 1),
        ),
        _pod_row,
    ),
    "Event": (
        (
            ("Last Seen", "string", 0),
            ("Type", "string", 0),
            ("Reason", "string", 0),
            ("Object", "string", 0),
            ("Message", "string", 0),
            ("Subobject", "string", 1),
            ("Source", "string", 1),
            ("First Seen", "string", 1),
            ("Count", "string", 1),
            ("Name", "string", 1),
        ),
        _event_row,
    ),
    "DaemonSet": (
        (
            ("Name", "string", 0),
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            ("Up-to-date", "integer", 0),
            ("Available", "integer", 0),
            ("Node Selector", "string", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ),
        _ds_row,
    ),
    "Job": (
        (
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Completions", "string", 0),
            ("Duration", "string", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ),
        _job_row,
    ),
    "ConfigMap": (
        (("Name", "string", 0), ("Data", "integer", 0), ("Age", "string", 0)),
        lambda o, now: [o["metadata"]["name"], len(o.get("data") or {}) + len(o.get("binaryData") or {}), _age(o, now)],
    ),
    "RuntimeClass": (
        (("Name", "string", 0), ("Handler", "string", 0), ("Age", "string", 0)),
        lambda o, now: [o["metadata"]["name"], o["handler"], _age(o, now)],
    ),
    "PodDisruptionBudget": (
        (
            ("Name", "string", 0),
            ("Min Available", "string", 0),
            ("Max Unavailable", "string", 0),
            ("Allowed Disruptions", "integer", 0),
            ("Age", "string", 0),
        ),
        _pdb_row,
    ),
    "Lease": (
        (("Name", "string", 0), ("Holder", "string", 0), ("Age", "string", 0)),
        lambda o, now: [o["metadata"]["name"], o.get("spec", {}).get("holderIdentity", ""), _age(o, now)],
    ),
    "Namespace": (
        (("Name", "string", 0), ("Status", "string", 0), ("Age", "string", 0)),
        lambda o, now: [o["metadata"]["name"], o.get("status", {}).get("phase", ""), _age(o, now)],
    ),
    "CustomResourceDefinition": (
        (
            ("Name", "string", 0),
            ("Scope", "string", 1),
            ("Versions", "string", 1),
            ("Created At", "date", 0),
            ("Group", "string", 1),
            ("Kind", "string", 1),
            ("ShortNames", "string", 1),
            ("Established", "string", 1),
        ),
        lambda o, now: [
            o["metadata"]["name"],
            o["spec"]["scope"],
            ",".join(v["name"] for v in o["spec"]["versions"]),
            o["metadata"].get("creationTimestamp", ""),
            o["spec"]["group"],
            o["spec"]["names"]["kind"],
            ",".join(o["spec"]["names"].get("shortNames", [])),
            next((c["status"] for c in o.get("status", {}).get("conditions", []) if c["type"] == "Established"), ""),
        ],
    ),
}
_DEFAULT: Printer = (
    (("Name", "string", 0), ("Age", "string", 0)),
    lambda o, now: [o["metadata"]["name"], _age(o, now)],
)


def table(
    kind: str, objects: Sequence[Obj], *, include: str, resource_version: str, continue_token: str | None = None
) -> Obj:
    """A ``meta.k8s.io/v1`` Table of ``objects``. ``include`` is None, Metadata or Object."""
    columns, row = PRINTERS.get(kind, _DEFAULT)
    now = datetime.now(UTC)
    definitions = [
        {"name": name, "type": type_, "format": "name" if name == "Name" else "", "description": name, "priority": prio}
        for name, type_, prio in columns
    ]
    rows = []
    for obj in objects:
        entry: Obj = {"cells": row(obj, now)}
        if include == "Object":
            entry["object"] = obj
        elif include != "None":
            entry["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        rows.append(entry)
    meta: Obj = {"resourceVersion": resource_version}
    if continue_token:
        meta["continue"] = continue_token
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": definitions,
        "rows": rows,
    }
