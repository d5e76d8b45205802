"""Output formats shared by the CLI and the TUI: kubectl-style tables, JSON and YAML.

Data goes to stdout; diagnostics go to stderr (``fleetctl.console``).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collectors.health.collector import HealthResult
    from collectors.inventory.collector import CollectResult
    from fleetctl.rehearsal.runner import Rehearsal
    from store.models import Release, Schedule, UpgradeRun
    from store.query.facts_read import ChangeRow, CheckRow, NodeReport, StaleSummary, VersionRow
    from store.query.reading import HealthReason, NodeRow
    from store.runs import RunView
    from upgrades.planner import Plan

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


def node_items(
    rows: Sequence[NodeRow], reasons: Mapping[tuple[str, str], HealthReason] | None = None
) -> list[dict[str, Any]]:
    """Nodes as the JSON and YAML items of ``NodeList`` (the one place rows become camelCase).
    With ``reasons``, a node that is not ok says why in ``healthReason`` (null when ok)."""
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
            **({} if reasons is None else {"healthReason": _reason(r, reasons)}),
            "firstSeen": when(r.first_seen),
            "changedAt": when(r.changed_at),
        }
        for r in rows
    ]


def _reason(row: NodeRow, reasons: Mapping[tuple[str, str], HealthReason]) -> dict[str, Any] | None:
    from store.query.reading import NEVER_CHECKED

    if row.health.value == "ok":
        return None
    reason = reasons.get((row.cluster, row.name), NEVER_CHECKED)
    return {"checks": list(reason.checks), "message": reason.message}


def check_items(checks: Sequence[CheckRow]) -> list[dict[str, Any]]:
    """Health checks as the items of ``HealthReport``."""
    return [
        {
            "node": c.node,
            "cluster": c.cluster,
            "code": c.code,
            "status": c.status,
            "value": c.value,
            "message": c.message,
            "remediation": c.remediation,
            "since": c.since.isoformat(),
        }
        for c in checks
    ]


def health_report(
    failing: Sequence[CheckRow], freshness: Mapping[str, Any], *, nodes: int, by_health: Mapping[str, int], fail_on: str
) -> dict[str, Any]:
    """``health -o json``: the failing checks, with the data's freshness, the node count by health and ``--fail-on``."""
    return listing(
        "HealthReport", check_items(failing), **freshness, nodes=nodes, nodesByHealth=by_health, failOn=fail_on
    )


def node_description(f: NodeReport) -> dict[str, Any]:
    """``describe node -o json`` (``NodeDescription``): the node's facts, checks, history, events and upgrade step."""
    node = f.node
    facts = {k: v for k, v in f.state.model_dump().items() if k not in ("node_id", "digest")}
    return document(
        "NodeDescription",
        name=node.name,
        cluster=f.cluster,
        firstSeen=node.first_seen.isoformat(),
        goneAt=node.gone_at.isoformat() if node.gone_at else None,
        facts={k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in facts.items()},
        checks=[c.model_dump(exclude={"node_id"}, mode="json") for c in f.checks],
        changes=[c.model_dump(exclude={"node_id", "id"}, mode="json") for c in f.changes],
        healthEvents=[t.model_dump(exclude={"node_id", "id"}, mode="json") for t in f.transitions],
        events=[e.model_dump(exclude={"node_id", "id"}, mode="json") for e in f.events],
        upgradeStep=f.step.model_dump(mode="json") if f.step else None,
    )


def version_items(rows: Sequence[VersionRow]) -> list[dict[str, Any]]:
    """Release x arch x guest kernel counts as the items of ``VersionList``."""
    return [
        {
            "kata": r.kata,
            "arch": r.arch,
            "guestKernel": r.guest_kernel,
            "customKernel": r.custom_kernel,
            "nodes": r.nodes,
            "behindLatest": r.behind_latest,
        }
        for r in rows
    ]


def change_items(rows: Sequence[ChangeRow]) -> list[dict[str, Any]]:
    """Fact changes as the items of ``ChangeList``."""
    return [
        {"at": r.at.isoformat(), "node": r.node, "cluster": r.cluster, "fact": r.fact, "old": r.old, "new": r.new}
        for r in rows
    ]


def collection_item(r: CollectResult, h: HealthResult | None) -> dict[str, Any]:
    """One cluster's collection (and its health round) as an item of ``CollectionList``."""
    s = r.snapshot
    return {
        "cluster": r.cluster,
        "nodes": r.nodes,
        "pods": r.pods,
        "changesWritten": s.change_rows if s else 0,
        "nodesAdded": s.added if s else 0,
        "nodesChanged": s.changed if s else 0,
        "nodesGone": s.gone if s else 0,
        "apiRequests": r.api_requests,
        "errorsRetried": r.errors_retried,
        "seconds": round(r.seconds, 3),
        "error": r.error,
        "health": None
        if h is None
        else {
            "nodesByStatus": h.by_status,
            "checksChanged": h.transitions,
            "queryFailures": h.query_failures,
            "seconds": round(h.seconds, 3),
        },
    }


def plan_document(plan: Plan) -> dict[str, Any]:
    """A plan as ``upgrade plan -o json`` shows it (``UpgradePlan``)."""

    def node(c: Any) -> dict[str, Any]:
        return {"cluster": c.cluster, "name": c.name, "arch": c.arch, "zone": c.zone, "kata": c.kata}

    return document(
        "UpgradePlan",
        name=plan.spec.name,
        target=plan.spec.target,
        waves=[{"number": i, "nodes": [node(c) for c in w]} for i, w in enumerate(plan.waves, start=1)],
        excluded=[{**node(e.node), "reason": e.reason, "detail": e.detail} for e in plan.excluded],
        customKernel=[node(c) for c in plan.custom_kernel],
        maxUnavailable=plan.max_unavailable,
        unavailableNow=plan.unavailable_now,
        failureBudget={"perWave": plan.wave_budgets, "perRun": plan.run_budget, "onBreach": plan.spec.budget.on_breach},
        estimatedSeconds=round(plan.estimate_s),
        refusals=plan.refusals,
    )


def run_document(view: RunView, state: str, stale: StaleSummary | None) -> dict[str, Any]:
    """A run as ``upgrade status -o json`` shows it (``UpgradeRun``), in its shown ``state``, with
    the stale sandboxes of its upgraded nodes."""
    r = view.run
    return document(
        "UpgradeRun",
        id=r.id, name=r.name, runKind=r.kind, parent=r.parent_id, target=r.target_version, state=state, message=r.message,
        holder=r.holder, createdAt=r.created_at.isoformat(), startedAt=r.started_at.isoformat() if r.started_at else None,
        finishedAt=r.finished_at.isoformat() if r.finished_at else None,
        waves=[
            {"number": w.number, "state": w.state, "size": w.size, "gate": w.gate_state, "gateMessage": w.gate_message,
             "gateResults": w.gate_results}
            for w in view.waves
        ],
        nodes=[
            {"cluster": s.cluster, "name": s.node, "wave": s.wave, "step": s.step, "state": s.state,
             "from": s.from_version, "to": s.target_version, "cordonedByUs": s.cordoned_by_us, "message": s.message}
            for s in view.steps
        ],
        staleSandboxes=None if stale is None else
        {"nodes": stale.nodes, "sandboxes": stale.sandboxes, "unknown": stale.unknown},
    )  # fmt: skip


def run_items(runs: Sequence[UpgradeRun]) -> list[dict[str, Any]]:
    """Runs as the items of ``UpgradeRunList``, each in its shown state."""
    from store.runs import shown_state

    return [
        {"id": r.id, "name": r.name, "kind": r.kind, "target": r.target_version, "state": shown_state(r), "message": r.message,
         "createdAt": r.created_at.isoformat()}
        for r in runs
    ]  # fmt: skip


def freshness_metadata(oldest: datetime, age: timedelta, stale: bool) -> dict[str, Any]:
    """How old the answer's data is, as the ``metadata`` of ``NodeList`` and ``HealthReport``."""
    return {"collectedAt": oldest.isoformat(), "dataAgeSeconds": int(age.total_seconds()), "stale": stale}


def release_items(releases: Sequence[Release], nodes: Mapping[str | None, int]) -> list[dict[str, Any]]:
    """Releases, with the ``nodes`` on each, as the items of ``ReleaseList``."""
    return [
        {
            "version": r.version,
            "published": r.published_at.date().isoformat() if r.published_at else None,
            "guestKernel": r.guest_kernel,
            "hypervisors": r.hypervisors,
            "arches": r.arches,
            "nodes": nodes.get(r.version, 0),
            "source": r.source,
        }
        for r in releases
    ]


def _span(seconds: float) -> str:
    """4h, 1h30m, 90s: exact, unlike kubectl's rounded ages."""
    total, parts = int(seconds), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            parts.append(f"{total // size}{unit}")
            total %= size
    return "".join(parts) or "0s"


def schedule_fields(s: Schedule) -> dict[str, Any]:
    """A schedule's fields, as ``Schedule`` and the items of ``ScheduleList`` show them."""
    return {
        "id": s.id,
        "name": s.name,
        "target": (s.plan.get("spec") or {}).get("target"),
        "window": s.window_schedule,
        "duration": _span(s.duration_s),
        "timeZone": s.timezone,
        "exclude": [a if a == b else f"{a}..{b}" for a, b in s.exclude],
        "lastOpening": s.last_opening.isoformat() if s.last_opening else None,
        "lastRun": s.last_run_id,
        "message": s.message,
    }


def rehearsal_document(r: Rehearsal, outcome: str, window: str | None) -> dict[str, Any]:
    """A rehearsal's report as ``rehearse -o json`` shows it (``Rehearsal``): ``outcome`` and
    ``window`` are the report's lines on how the run ends and how it fits the plan's window."""

    def seconds(value: float | None) -> float | None:
        return round(value, 1) if value is not None else None

    return document(
        "Rehearsal",
        name=r.plan.spec.name,
        target=r.plan.spec.target,
        timeScale=r.time_scale,
        state=r.state,
        completes=r.completes,
        outcome=outcome,
        predictedSeconds=round(r.seconds),
        estimatedSeconds=round(r.plan.estimate_s),
        window=window,
        gates=r.gates,
        copies=[dataclasses.asdict(c) for c in r.copies],
        waves=[
            {
                "number": w.number,
                "size": w.size,
                "state": w.state,
                "seconds": seconds(w.seconds),
                "slowest": w.slowest,
                "gate": {"state": w.gate_state, "message": w.gate_message},
                "nodes": [{"cluster": n.cluster, "name": n.name} for n in r.nodes if n.wave == w.number],
            }
            for w in r.waves
        ],
        nodes=[
            {
                "cluster": n.cluster,
                "name": n.name,
                "wave": n.wave,
                "state": n.state,
                "message": n.message,
                "seconds": seconds(n.seconds),
                "drainSeconds": seconds(n.drain_seconds),
                "refusals": n.refused,
                "refusedBy": n.refused_by,
                "buildsEvicted": n.builds_evicted,
                "waitedForBuildsSeconds": seconds(n.waited_for_builds),
            }
            for n in r.nodes
        ],
    )
