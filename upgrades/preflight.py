"""Pre-flight checks: known ways a Kata upgrade breaks, found before a run starts (pure).

Each finding has a stable code, what was found, and the fix. A ``REFUSE`` finding stops
``upgrade plan`` (exit 1), ``apply`` and ``rehearse``; a ``WARN`` finding is printed and the run
may go. The inputs are read from each cluster by the composition root (``fleetctl.services``).
Sources: kata-containers issues #12936, #12761, #9416 and #10261, and the kata-deploy chart
(``tools/packaging/kata-deploy/helm-chart``: ``helm.sh/chart`` and the RuntimeClasses'
``katacontainers.io/kata-version`` annotation since 3.32.0). Codes: PF001 containerd config v4,
PF002 the 3.28 restart bug, PF003 an unpinned image, PF004/PF005 image and chart apart, PF006 a
node-feature-discovery beside a Helm-managed kata-deploy (the chart vendors NFD as an optional
dependency since kata-containers#11998, and refuses to install it beside another), PF007
RuntimeClasses ahead of the target.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from store.images import image_tag
from store.versions import KataVersion

CONTAINERD = re.compile(r"containerd://v?(\d+)\.(\d+)")
CHART = re.compile(r"-(\d+\.\d+\.\d+[^\s]*)$")
NFD_LABEL = "feature.node.kubernetes.io/kernel-version.full"  # one of the labels every NFD worker sets
RESTART_BUG = "3.28"  # kata-containers#12761: a kata-deploy pod restart removed the artifacts; fixed in 3.29


class Severity(StrEnum):
    """What a finding does to the plan."""

    REFUSE = "refuse"
    WARN = "warn"


@dataclass(frozen=True)
class Finding:
    """One pre-flight result."""

    code: str
    severity: Severity
    cluster: str
    message: str
    fix: str

    def line(self) -> str:
        """How plan and apply print it."""
        return f"{self.code} {self.severity.value} ({self.cluster}): {self.message}; fix: {self.fix}"


@dataclass(frozen=True)
class ClusterFacts:
    """What the checks read from one cluster."""

    cluster: str
    target: str
    node_releases: dict[str, str | None]  # the plan's nodes: their Kata release
    node_runtimes: dict[str, str | None]  # and their container runtime (``containerd://2.3.1``)
    deploy_image: str | None = None  # kata-deploy's DaemonSet image (None: job mode or a custom installer)
    chart_version: str | None = None  # from the Helm ``helm.sh/chart`` label (``kata-deploy-3.30.0``)
    helm_release: str | None = None
    runtimeclass_versions: dict[str, str] = field(default_factory=dict)  # RuntimeClass -> kata-version annotation
    cordon_only: bool = False  # drain.mode none
    nfd_node: str | None = None  # a node that node-feature-discovery labelled (NFD_LABEL); None: no NFD seen


def check(facts: ClusterFacts) -> list[Finding]:
    """Every finding for one cluster, in code order."""
    out: list[Finding] = []
    for checker in (_containerd_v4, _restart_bug, _latest_tag, _chart_mismatch, _second_nfd, _runtimeclass):
        out += checker(facts)
    return out


def _containerd_v4(f: ClusterFacts) -> list[Finding]:
    newer = sorted(n for n, r in f.node_runtimes.items() if _containerd(r) >= (2, 3))
    if not newer:
        return []
    return [
        Finding(
            "PF001", Severity.WARN, f.cluster,
            f"{len(newer)} nodes run containerd 2.3 or newer ({', '.join(newer[:3])}), whose config `version = 4` broke "
            "kata-deploy releases that predate the fix of kata-containers#12936",
            f"check that kata-deploy {f.target}'s release notes support containerd config version 4, or rehearse it",
        )
    ]  # fmt: skip


def _restart_bug(f: ClusterFacts) -> list[Finding]:
    on = sorted(n for n, v in f.node_releases.items() if v and _minor(v) == RESTART_BUG)
    if not on:
        return []
    severity = Severity.REFUSE if f.cordon_only else Severity.WARN
    why = (
        "with drain.mode none their running Kata pods would crash"
        if f.cordon_only
        else "pods still on such a node crash; the drain moves them first"
    )
    return [
        Finding(
            "PF002", severity, f.cluster,
            f"{len(on)} nodes run 3.28, where deleting a kata-deploy pod removes the artifacts and restarts containerd "
            f"(kata-containers#12761, fixed in 3.29): {why}",
            "drain these nodes (spec.drain.mode: evict) when leaving 3.28",
        )
    ]  # fmt: skip


def _latest_tag(f: ClusterFacts) -> list[Finding]:
    if f.deploy_image is None or "@" in f.deploy_image or image_tag(f.deploy_image) not in ("latest", None):
        return []  # a digest pins the image whatever its tag says
    return [
        Finding(
            "PF003", Severity.WARN, f.cluster,
            f"kata-deploy's image {f.deploy_image} is not pinned to a release: `latest` has pointed at other releases "
            "than the newest (kata-containers#9416, #10261), and a restarted pod may install another release",
            f"pin the DaemonSet to the release its nodes run; fleetctl sets it to :{f.target} for the run",
        )
    ]  # fmt: skip


def _chart_mismatch(f: ClusterFacts) -> list[Finding]:
    if not f.chart_version:
        return []
    out = []
    tag = image_tag(f.deploy_image or "")
    if f.deploy_image and tag not in (None, "latest", f.chart_version):
        out.append(
            Finding(
                "PF004", Severity.WARN, f.cluster,
                f"kata-deploy runs image :{tag} with chart {f.chart_version}; an image paired with another "
                "version's chart can crash-loop",
                f"helm upgrade {f.helm_release} to the chart of the release it runs",
            )
        )  # fmt: skip
    if f.target != f.chart_version:
        out.append(
            Finding(
                "PF005", Severity.WARN, f.cluster,
                f"Helm release {f.helm_release} is chart {f.chart_version}: the run pairs image :{f.target} with it "
                "until the release is upgraded, and such a pair can crash-loop",
                f"rehearse first, or upgrade with helm ({f.helm_release} --version {f.target}) and set "
                "spec.install.helm: refuse",
            )
        )  # fmt: skip
    return out


def _second_nfd(f: ClusterFacts) -> list[Finding]:
    if not f.helm_release or f.nfd_node is None:
        return []  # only a Helm upgrade renders the chart, and with it the vendored NFD
    return [
        Finding(
            "PF006", Severity.WARN, f.cluster,
            f"node-feature-discovery runs in this cluster (node {f.nfd_node} has {NFD_LABEL}); kata-deploy's chart "
            "refuses to install its vendored NFD beside another one (kata-containers#11998), so the `helm upgrade` "
            f"that reconciles Helm release {f.helm_release} after the run fails if node-feature-discovery.enabled is "
            "true in its values",
            "keep node-feature-discovery.enabled: false in kata-deploy's values (the chart's default) unless this "
            "NFD is the chart's own",
        )
    ]  # fmt: skip


def _runtimeclass(f: ClusterFacts) -> list[Finding]:
    newer = sorted(n for n, v in f.runtimeclass_versions.items() if _newer(v, f.target))
    if not newer:
        return []
    version = f.runtimeclass_versions[newer[0]]
    return [
        Finding(
            "PF007", Severity.REFUSE, f.cluster,
            f"RuntimeClasses {', '.join(newer[:3])} carry katacontainers.io/kata-version {version}, newer than the "
            f"target {f.target}: the cluster's chart is ahead of the release the plan would install",
            f"target {version} or newer, or downgrade the chart with helm first",
        )
    ]  # fmt: skip


def _containerd(runtime: str | None) -> tuple[int, int]:
    match = CONTAINERD.match(runtime or "")
    return (int(match[1]), int(match[2])) if match else (0, 0)


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _newer(version: str, target: str) -> bool:
    have, want = KataVersion.try_parse(version), KataVersion.try_parse(target)
    return have is not None and want is not None and have > want


def chart_version(obj: dict[str, object] | None) -> str | None:
    """The chart version of a Helm-managed object (``helm.sh/chart: kata-deploy-3.30.0`` -> ``3.30.0``)."""
    meta = (obj or {}).get("metadata")
    labels = (meta.get("labels") if isinstance(meta, dict) else None) or {}
    match = CHART.search(str(labels.get("helm.sh/chart", "")))
    return match[1] if match else None
