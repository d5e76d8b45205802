"""Output formats shared by the CLI and the TUI: kubectl-style tables, JSON and YAML.

Data goes to stdout; diagnostics go to stderr (``fleetctl.console``).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from store.query.reading import NodeRow

API_VERSION = "fleetctl.io/v1"
NONE = "<none>"
UNKNOWN = "unknown"  # a fact that could not be known (never shown as 0 or ok)


def document(kind: str, **fields: Any) -> dict[str, Any]:
    """A single object with the stable envelope: ``apiVersion``, ``kind``, then fields."""
    return {"apiVersion": API_VERSION, "kind": kind, **fields}


def to_json(obj: Any) -> str:
    """Indented JSON, keys in the order given, non-ASCII kept readable."""
    return json.dumps(obj, indent=2, ensure_ascii=False, default=str)


def to_yaml(obj: Any) -> str:
    """Block-style YAML with keys in the order given, values as JSON would render them."""
    import yaml

    plain = json.loads(json.dumps(obj, default=str))  # one rendering of dates, enums and str subclasses
    return yaml.safe_dump(plain, sort_keys=False, allow_unicode=True, default_flow_style=False)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A kubectl-style table: upper-case headers, three spaces apart, ``<none>`` for missing."""
    cells = [[h.upper() for h in headers]] + [[NONE if v is None or v == "" else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def key_values(pairs: Mapping[str, Any]) -> str:
    """``Key:  value`` lines, aligned, as ``kubectl describe`` prints them."""
    width = max((len(k) for k in pairs), default=0) + 1
    return "\n".join(f"{(k + ':').ljust(width)}  {NONE if v is None else v}" for k, v in pairs.items())


def to_csv(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """CSV with a header row; missing values are empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([h.upper() for h in headers])
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return out.getvalue().rstrip("\n")


def listing(kind: str, items: Sequence[Mapping[str, Any]], **metadata: Any) -> dict[str, Any]:
    """A list with the stable envelope: ``apiVersion``, ``kind``, ``metadata``, ``items``."""
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "items": list(items)}


def node_items(rows: Sequence[NodeRow]) -> list[dict[str, Any]]:
    """Nodes as the JSON and YAML items of ``NodeList`` (the one place rows become camelCase)."""
    iso: dict[datetime, str] = {}  # one collection's rows share their timestamps

    def when(at: datetime) -> str:
        text = iso.get(at)
        if text is None:
            text = iso[at] = at.isoformat()
        return text

    return [
        {
            "name": r.name,
            "cluster": r.cluster,
            "arch": r.arch,
            "zone": r.zone,
            "region": r.region,
            "kata": {
                "version": r.kata_version,
                "deployVersion": r.kata_deploy_version,
                "commit": r.kata_commit,
                "label": r.kata_label,
            },
            "guestKernel": r.guest_kernel,
            "customKernel": r.custom_kernel,
            "hypervisor": {"name": r.hypervisor, "version": r.hypervisor_version, "machineType": r.machine_type},
            "hostKernel": r.host_kernel,
            "osImage": r.os_image,
            "containerRuntime": r.container_runtime,
            "kubelet": r.kubelet,
            "ready": r.ready,
            "cordoned": r.cordoned,
            "cpu": r.cpu,
            "staleSandboxes": r.stale_sandboxes,
            "runtimeHandlers": list(r.runtime_handlers),
            "drift": list(r.drift),
            "parseProblems": list(r.parse_problems),
            "health": r.health.value,
            "firstSeen": when(r.first_seen),
            "changedAt": when(r.changed_at),
        }
        for r in rows
    ]
