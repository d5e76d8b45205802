"""How each cluster deploys Kata, found before a run touches anything: the install mechanism
(``install.mechanism: auto`` detects it), and whether Helm owns kata-deploy.

A run records what was found per cluster (``RunPlan.deployments``), so a resumed run and its
rollback use the mechanism the run started with: fleetctl never switches a cluster's mode in flight.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from store.runs import RunView
from store.states import StepState
from upgrades.planfile import HelmPolicy, Install, Mechanism
from upgrades.ports import ConfigMap, DaemonSet, Node
from upgrades.rundoc import RunPlan

HELM_CHART = "oci://ghcr.io/kata-containers/kata-deploy-charts/kata-deploy"
MANAGED_BY = "app.kubernetes.io/managed-by"
RELEASE_NAME = "meta.helm.sh/release-name"
RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"


class DeploymentRefused(Exception):
    """The cluster's deployment cannot be upgraded as the plan asks; the message says how to fix it."""


class DeploymentReader(Protocol):
    """The reads detection needs (``ClusterAPI`` has them)."""

    cluster: str

    def find_daemonset(self, namespace: str, name: str) -> DaemonSet | None:
        """A DaemonSet, or None."""
        ...

    def config_map(self, namespace: str, name: str) -> ConfigMap | None:
        """A ConfigMap, or None."""
        ...

    def list_nodes(self) -> Iterator[list[Node]]:
        """Every Node, page by page."""
        ...


@dataclass(frozen=True)
class Deployment:
    """What one cluster runs: the mechanism, and the Helm release that owns kata-deploy, if one does."""

    mechanism: Mechanism
    helm_release: str | None = None
    helm_namespace: str | None = None

    def document(self) -> dict[str, str]:
        """The form a run stores."""
        doc = {"mechanism": self.mechanism.value}
        if self.helm_release:
            doc |= {"helmRelease": self.helm_release, "helmNamespace": self.helm_namespace or ""}
        return doc

    @classmethod
    def parse(cls, doc: Mapping[str, str]) -> Deployment:
        """A stored document back."""
        return cls(Mechanism(doc["mechanism"]), doc.get("helmRelease") or None, doc.get("helmNamespace") or None)

    def describe(self) -> str:
        """One line for ``upgrade plan``."""
        text = {
            Mechanism.DAEMONSET: "kata-deploy DaemonSet (OnDelete)",
            Mechanism.JOB: "kata-deploy job mode (a Job per node)",
            Mechanism.LABEL: "a custom installer selected by a node label",
        }.get(self.mechanism, self.mechanism.value)
        if self.helm_release:
            text += f"; Helm release {self.helm_namespace}/{self.helm_release} (changed outside Helm, reconcile after)"
        return text

    def helm_line(self, cluster: str, target: str) -> str | None:
        """The command that brings the Helm release in line with what the run installed."""
        if not self.helm_release:
            return None
        return (
            f"helm upgrade {self.helm_release} {HELM_CHART} --version {target} --namespace {self.helm_namespace} "
            f"--kube-context {cluster} --reset-then-reuse-values"
        )


def detect(reader: DeploymentReader, conf: Install) -> Deployment:
    """The cluster's deployment, checked against ``conf``; raises ``DeploymentRefused`` with the fix."""
    wanted = conf.mechanism
    ds = reader.find_daemonset(conf.namespace, conf.daemonset) if wanted != Mechanism.LABEL else None
    templates = None  # read only where job mode is possible: a DaemonSet cluster needs no ConfigMap access
    if wanted == Mechanism.JOB or (wanted == Mechanism.AUTO and ds is None):
        templates = reader.config_map(conf.namespace, conf.job_templates)
    if wanted == Mechanism.AUTO:
        if ds is not None:
            wanted = Mechanism.DAEMONSET
        elif templates is not None:
            wanted = Mechanism.JOB
        elif _any_labelled(reader, conf.label):
            wanted = Mechanism.LABEL
        else:
            raise DeploymentRefused(
                f"{reader.cluster}: no kata-deploy found: neither DaemonSet {conf.namespace}/{conf.daemonset} nor job "
                f"mode's ConfigMap {conf.namespace}/{conf.job_templates}, and no node has label {conf.label}; set "
                "spec.install.namespace and daemonSet to your kata-deploy, or spec.install.mechanism: label"
            )
    owner: DaemonSet | ConfigMap | None = None
    if wanted == Mechanism.DAEMONSET:
        owner = _checked_daemonset(reader.cluster, ds, conf)
    elif wanted == Mechanism.JOB:
        owner = _checked_templates(reader.cluster, templates, ds, conf)
    release, namespace = helm_owner(owner)
    if release and conf.helm == HelmPolicy.REFUSE:
        raise DeploymentRefused(
            f"{reader.cluster}: Helm release {namespace}/{release} owns kata-deploy and spec.install.helm is refuse; "
            f"upgrade it with helm (helm upgrade {release} {HELM_CHART} --version TARGET --namespace {namespace}), "
            "or set spec.install.helm: reconcile-after"
        )
    return Deployment(wanted, release, namespace)


def _checked_daemonset(cluster: str, ds: DaemonSet | None, conf: Install) -> DaemonSet:
    name = f"DaemonSet {conf.namespace}/{conf.daemonset}"
    if ds is None:
        raise DeploymentRefused(
            f"{cluster}: {name} does not exist; set spec.install.daemonSet and namespace, or spec.install.mechanism"
        )
    strategy = (ds.get("spec", {}).get("updateStrategy") or {}).get("type", "RollingUpdate")
    if strategy != "OnDelete":
        release, namespace = helm_owner(ds)
        fix = (
            f"helm upgrade {release} {HELM_CHART} --namespace {namespace} --kube-context {cluster} "
            "--reuse-values --set updateStrategy.type=OnDelete"
            if release
            else f"kubectl --context {cluster} -n {conf.namespace} patch daemonset {conf.daemonset} --type merge "
            '-p \'{"spec":{"updateStrategy":{"type":"OnDelete"}}}\''
        )
        raise DeploymentRefused(
            f"{cluster}: {name} uses updateStrategy {strategy}, which replaces every node's pod at once when its "
            f"image changes; fleetctl upgrades node by node only with OnDelete. Switch it first: {fix}"
        )
    return ds


def _checked_templates(cluster: str, templates: ConfigMap | None, ds: DaemonSet | None, conf: Install) -> ConfigMap:
    name = f"ConfigMap {conf.namespace}/{conf.job_templates}"
    if templates is None:
        hint = " (the cluster runs kata-deploy as a DaemonSet: use mechanism daemonset)" if ds is not None else ""
        raise DeploymentRefused(f"{cluster}: job mode needs {name}, which does not exist{hint}")
    if "install-job.yaml" not in (templates.get("data") or {}):
        raise DeploymentRefused(
            f"{cluster}: {name} has no install-job.yaml: is it kata-deploy's job-templates ConfigMap?"
        )
    return templates


def helm_owner(obj: DaemonSet | ConfigMap | None) -> tuple[str | None, str | None]:
    """Helm's release name and namespace when Helm manages ``obj``."""
    if obj is None:
        return None, None
    meta = obj.get("metadata") or {}
    labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
    if labels.get(MANAGED_BY) != "Helm":
        return None, None
    release = annotations.get(RELEASE_NAME) or labels.get("app.kubernetes.io/instance") or meta.get("name")
    return release, annotations.get(RELEASE_NAMESPACE) or meta.get("namespace")


def _any_labelled(reader: DeploymentReader, key: str) -> bool:
    return any(key in (n["metadata"].get("labels") or {}) for page in reader.list_nodes() for n in page)


def helm_lines(view: RunView) -> list[str]:
    """After a run changed nodes of a Helm-managed kata-deploy: the line per cluster that brings
    the Helm release in line (the next ``helm upgrade`` would otherwise put the old release back)."""
    plan = RunPlan.parse(view.run.plan)
    target = str(view.run.target_version)
    changed = {s.cluster for s in view.steps if s.state == StepState.DONE}
    out = []
    for cluster, doc in sorted(plan.deployments.items()):
        line = Deployment.parse(doc).helm_line(cluster, target) if cluster in changed else None
        if line:
            out.append(
                f"{cluster}: kata-deploy was changed outside its Helm release; bring the release in line: {line}"
            )
    return out
