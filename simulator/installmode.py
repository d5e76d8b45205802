"""How kata-deploy is deployed on the simulated cluster: the install mode, Helm's marks, the
per-node Job template of ``deploymentMode: job``.

- ``ondelete`` (the default): one kata-deploy DaemonSet, ``updateStrategy: OnDelete``;
- ``rolling``: the same DaemonSet with ``RollingUpdate``: a template change rolls the pods itself;
- ``job``: no DaemonSet; a ConfigMap holds the per-node install Job's manifest (chart >= 3.32);
- ``label``: one installer DaemonSet per release, each selecting the nodes whose install label
  names its release (``simulator.labelinstall``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import yaml

from simulator import kata

DEFAULT_INSTALL_LABEL = "fleetctl.io/kata-release"
JOB_TEMPLATES = "kata-deploy-job-templates"  # the ConfigMap, in kube-system
JOB_TEMPLATE_KEY = "install-job.yaml"
JOB_CONTAINER = "kube-kata-install"
JOB_LABELS = {
    "app.kubernetes.io/name": "kata-deploy",
    "app.kubernetes.io/instance": "kata-deploy",
    "kata-deploy/stage": "install",
}
HELM_RELEASE, HELM_NAMESPACE = "kata-deploy", "kube-system"
LABEL_NAMESPACE, LABEL_DS_PREFIX = "kata-installer", "kata-installer-"  # the ``label`` mode's installers


class InstallMode(StrEnum):
    """How kata-deploy reaches the nodes."""

    ONDELETE = "ondelete"
    ROLLING = "rolling"
    JOB = "job"
    LABEL = "label"


@dataclass(frozen=True)
class InstallConfig:
    """The world's deployment of kata-deploy."""

    mode: InstallMode = InstallMode.ONDELETE
    helm: bool = False  # the objects carry Helm's ownership labels and annotations
    label: str = DEFAULT_INSTALL_LABEL  # the node label the ``label`` mode's installers select on


def helm_marks(obj: dict[str, Any], chart_version: str) -> None:
    """Put Helm's ownership labels and annotations on ``obj`` (a release ``kata-deploy`` in kube-system)."""
    meta = obj["metadata"]
    meta.setdefault("labels", {}).update(
        {
            "app.kubernetes.io/managed-by": "Helm",
            "helm.sh/chart": f"kata-deploy-{chart_version}",
            "app.kubernetes.io/instance": HELM_RELEASE,
        }
    )
    meta.setdefault("annotations", {}).update(
        {"meta.helm.sh/release-name": HELM_RELEASE, "meta.helm.sh/release-namespace": HELM_NAMESPACE}
    )


def install_job(version: str) -> dict[str, Any]:
    """The per-node install Job of the chart's ``kata-deploy.perNodeJob``, without a name or a node:
    the dispatcher fills in ``metadata.name`` and ``spec.template.spec.nodeName``."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"labels": dict(JOB_LABELS)},
        "spec": {
            "backoffLimit": 2,
            "ttlSecondsAfterFinished": 300,
            "template": {
                "metadata": {"labels": dict(JOB_LABELS)},
                "spec": {
                    "serviceAccountName": "kata-deploy-sa",
                    "restartPolicy": "Never",
                    "hostPID": True,
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [
                        {
                            "name": JOB_CONTAINER,
                            "image": kata.deploy_image(version),
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["bash", "-c", "/opt/kata-artifacts/scripts/kata-deploy.sh install"],
                            "securityContext": {"privileged": True},
                        }
                    ],
                },
            },
        },
    }


def job_templates(config: InstallConfig, version: str) -> dict[str, Any]:
    """The ConfigMap ``kube-system/kata-deploy-job-templates`` with the install Job at ``version``."""
    cm: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": JOB_TEMPLATES,
            "namespace": "kube-system",
            "labels": {"app.kubernetes.io/name": "kata-deploy"},
        },
        "data": {JOB_TEMPLATE_KEY: yaml.safe_dump(install_job(version), sort_keys=False)},
    }
    if config.helm:
        helm_marks(cm, version)
    return cm
