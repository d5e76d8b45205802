"""One node's report as sections, shown alike by ``fleetctl describe node`` and the dashboard's node view.

``sections`` is pure: it decides what is shown and in which order; the CLI draws the sections as
kubectl-style key/value blocks and tables, the dashboard as Rich text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from collectors.inventory.caa import caa_release
from fleetctl.output import NONE, UNKNOWN

if TYPE_CHECKING:
    from store.query.facts_read import NodeReport

Cell = str | int | float | bool | None


@dataclass(frozen=True)
class Section:
    """A titled part of the report: facts as pairs, a table, and lines of notes."""

    title: str
    pairs: list[tuple[str, Cell]] = field(default_factory=list)
    header: tuple[str, ...] = ()
    rows: list[tuple[Cell, ...]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def when(at: datetime | None) -> str | None:
    """A time as the report shows it: ``2026-12-01 21:05:23``."""
    return at.isoformat()[:19].replace("T", " ") if at else None


def short(text: str | None, width: int = 60) -> str | None:
    """``text`` cut to ``width`` with an ellipsis."""
    if text is None:
        return None
    return text if len(text) <= width else text[: width - 1] + "…"


def caa_text(caa_version: str | None) -> str | None:
    """``v0.22.0 (expects Kata 4.0.0)``; ``latest (release unknown)``; None without an adaptor."""
    if not caa_version:
        return None
    release = caa_release(caa_version)
    return f"{caa_version} (expects Kata {release.kata})" if release else f"{caa_version} (release unknown)"


def sections(r: NodeReport) -> list[Section]:
    """The report, top to bottom."""
    st = r.state
    kernel = f"{st.guest_kernel}{' (custom)' if st.custom_kernel else ''}" if st.guest_kernel else None
    out = [
        Section("Node", [("Name", r.node.name), ("Cluster", r.cluster), ("First seen", when(r.node.first_seen)),
                         ("Gone", when(r.node.gone_at))]),
        Section("Kata", [
            ("Release", st.kata_version), ("kata-deploy", st.kata_deploy_version), ("Commit", st.kata_commit),
            ("Label", st.kata_label), ("Guest kernel", kernel),
            ("Hypervisor", f"{st.hypervisor or NONE} {st.hypervisor_version or ''}".strip()),
            ("Machine type", st.machine_type), ("Handlers", ", ".join(st.runtime_handlers or []) or None),
            ("Stale sandboxes", UNKNOWN if st.stale_sandboxes is None else st.stale_sandboxes),
            ("Kata pods", UNKNOWN if st.kata_pods is None else st.kata_pods),
            ("kata-monitor", f"namespace {st.kata_monitor_namespace}" if st.kata_monitor_namespace else "no pod found"),
            ("Reporter source", st.reporter_source),
            ("CAA (peer pods)", caa_text(st.caa_version)),
            ("Peer pods", st.peerpod_count),
        ]),
        Section("Host", [
            ("Arch", st.arch), ("Zone", st.zone), ("CPU", f"{(st.cpu_capacity or 0) / 1000:g}"),
            ("Kernel", st.host_kernel), ("OS", st.os_image), ("Runtime", st.container_runtime),
            ("Kubelet", st.kubelet_version), ("Ready", st.ready), ("Cordoned", st.unschedulable),
            ("Conditions", ", ".join(st.conditions or []) or None),
        ]),
    ]  # fmt: skip
    if st.drift or st.parse_problems:
        out.append(
            Section("Drift", notes=[f"- {d}" for d in st.drift or []] + [f"! {p}" for p in st.parse_problems or []])
        )
    out.append(
        Section(
            "Checks", header=("code", "status", "message"), rows=[(c.code, c.status, c.message) for c in r.checks],
            notes=[f"{c.code}: {c.remediation}" for c in r.checks if c.status != "ok" and c.remediation]
            or ([] if r.checks else ["none yet (collect with --prometheus for VM health)"]),
        )
    )  # fmt: skip
    out.append(
        Section(
            "Changes (newest first)", header=("time", "fact", "old", "new"),
            rows=[(when(c.at), c.fact, short(c.old, 40), short(c.new, 40)) for c in r.changes],
        )
    )  # fmt: skip
    out.append(
        Section(
            "Health events (newest first)", header=("time", "code", "from", "to"),
            rows=[(when(t.at), t.code, t.old_status, t.new_status) for t in r.transitions],
        )
    )  # fmt: skip
    out.append(
        Section(
            "Events (newest first, as last collected)", header=("last seen", "type", "reason", "object", "count", "message"),
            rows=[(when(e.at), e.type, e.reason, e.object, e.count, short(e.message, 70)) for e in r.events],
        )
    )  # fmt: skip
    step = r.step
    out.append(
        Section(
            "Upgrade step",
            [("Run", step.run_id), ("Step", step.step), ("State", step.state), ("Message", step.message or None)]
            if step else [],
        )
    )  # fmt: skip
    return out
