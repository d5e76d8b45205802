"""kata-deploy's job mode (``deploymentMode: job``): fleetctl plays the chart's dispatcher for
exactly the wave's nodes. It clones the chart's per-node install Job template (the
``<daemonSet>-job-templates`` ConfigMap, key ``install-job.yaml``), names it for the node, pins it
there with ``nodeName``, points its kata-deploy images at the target, adds the ``unschedulable``
toleration a cordoned node needs, and watches the Job to completion. Once it succeeds, the node
gets the ``katacontainers.io/kata-runtime=true`` label, as the dispatcher sets it.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from collections.abc import Callable
from enum import StrEnum
from typing import cast

import yaml

from store.images import image_for
from upgrades.clock import SYSTEM_CLOCK, Clock
from upgrades.flowerrors import NodeFailed
from upgrades.installwait import reports_target
from upgrades.planfile import Install
from upgrades.ports import ClusterAPI, Job, Toleration

JOB_POLL_S = 0.5  # how often a running install Job is read
GONE_WAIT_S = 60.0  # how long an earlier, finished Job of the node's name may take to go
RUN_LABEL, RELEASE_LABEL = "upgrade.fleetctl.io/run", "upgrade.fleetctl.io/release"
KATA_LABEL = "katacontainers.io/kata-runtime"
UNSCHEDULABLE: Toleration = {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}


class JobState(StrEnum):
    """Where a Job is, from its conditions."""

    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"


def job_state(job: Job) -> tuple[JobState, str]:
    """The Job's state, and for a failed one its reason and message."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("status") != "True":
            continue
        if cond.get("type") == "Complete":
            return JobState.COMPLETE, ""
        if cond.get("type") == "Failed":
            return JobState.FAILED, f"{cond.get('reason', 'Failed')}: {cond.get('message', '')}".strip(": ")
    return JobState.RUNNING, ""


def job_name(base: str, node: str) -> str:
    """``<base>-install-<node>``, as the dispatcher names it; a hash keeps a long name unique in 63 characters."""
    name = f"{base}-install-{node}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(node.encode()).hexdigest()[:8]
    return f"{name[:54].rstrip('-')}-{digest}"


def install_job(template: Job, *, namespace: str, name: str, node: str, target: str, run_id: int) -> Job:
    """The per-node install Job: the chart's template for ``node`` at ``target`` (pure)."""
    job = copy.deepcopy(template)
    meta = job.setdefault("metadata", {})
    meta.pop("ownerReferences", None)
    meta.update({"name": name, "namespace": namespace})
    meta.setdefault("labels", {}).update({RUN_LABEL: str(run_id), RELEASE_LABEL: target})
    pod = job.setdefault("spec", {}).setdefault("template", {}).setdefault("spec", {})
    pod["nodeName"] = node
    changed = 0
    for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
        image = str(container.get("image", ""))
        if "kata-deploy" in image.rsplit("/", 1)[-1]:
            container["image"] = image_for(image, target)
            changed += 1
    if not changed:
        raise NodeFailed(f"the install Job template runs no kata-deploy image: {name} cannot install {target}")
    tolerations = pod.setdefault("tolerations", [])
    if not any(
        t.get("key") == UNSCHEDULABLE["key"] or (t.get("operator") == "Exists" and not t.get("key"))
        for t in tolerations
    ):
        tolerations.append(UNSCHEDULABLE.copy())
    return job


class JobInstall:
    """Install by kata-deploy's per-node Job."""

    def __init__(self, conf: Install, pins: dict[str, str], clock: Clock = SYSTEM_CLOCK) -> None:
        self.conf, self.pins, self.clock = conf, pins, clock
        self._lock = threading.Lock()
        self._templates: dict[str, Job] = {}  # by cluster

    def install(
        self,
        ops: ClusterAPI,
        node: str,
        target: str,
        *,
        started: Callable[[], None] = lambda: None,
        stop_check: Callable[[], None] = lambda: None,
    ) -> None:
        """Create the node's install Job (unless this run's is there already) and watch it and the node."""
        ns, name = self.conf.namespace, job_name(self.conf.daemonset, node)
        job = ops.job(ns, name)
        if job is not None and not _ours(job, ops.run_id, target):
            self._clear(ops, node, job)
            job = None
        if job is None:
            built = install_job(
                self._template(ops), namespace=ns, name=name, node=node, target=target, run_id=ops.run_id
            )
            ops.create_job(built, reason=f"install {target}")
            started()

        reached = reports_target(ops, self.pins, target)

        deadline = self.clock.monotonic() + self.conf.timeout_s
        while self.clock.monotonic() < deadline:
            stop_check()
            current = ops.job(ns, name)
            state, why = job_state(current) if current is not None else (JobState.COMPLETE, "")
            if state == JobState.FAILED:
                raise NodeFailed(f"install Job {ns}/{name} failed on {node}: {why}"[:500])
            if state == JobState.COMPLETE:
                seen = ops.node(node)
                if (seen["metadata"].get("labels") or {}).get(KATA_LABEL) != "true":
                    ops.label_node(node, KATA_LABEL, "true", reason=f"install Job {name} succeeded")
                    seen = ops.node(node)
                if reached(seen) or ops.wait_node(node, reached, min(3.0, deadline - self.clock.monotonic())):
                    return
                if current is None:
                    raise NodeFailed(f"install Job {ns}/{name} is gone and {node} does not report Kata {target}")
                continue
            self.clock.sleep(JOB_POLL_S)
        raise NodeFailed(
            f"install Job {ns}/{name} did not finish within {self.conf.timeout_s:g}s (spec.install.timeout)"
        )

    def _template(self, ops: ClusterAPI) -> Job:
        with self._lock:
            if ops.cluster not in self._templates:
                cm = ops.config_map(self.conf.namespace, self.conf.job_templates)
                text = ((cm or {}).get("data") or {}).get("install-job.yaml")
                if not text:
                    raise NodeFailed(
                        f"ConfigMap {self.conf.namespace}/{self.conf.job_templates} has no install-job.yaml"
                    )
                loaded = yaml.safe_load(text)
                if not isinstance(loaded, dict) or loaded.get("kind") != "Job":
                    raise NodeFailed(
                        f"install-job.yaml of {self.conf.namespace}/{self.conf.job_templates} is not a Job"
                    )
                self._templates[ops.cluster] = cast(Job, loaded)  # a Job manifest, as YAML read it
            return self._templates[ops.cluster]

    def _clear(self, ops: ClusterAPI, node: str, job: Job) -> None:
        """An earlier Job of the node's name (another run's, or the dispatcher's): deleted once it has
        finished, and waited for; one still running fails the node rather than race it."""
        meta = job["metadata"]
        if job_state(job)[0] == JobState.RUNNING:
            raise NodeFailed(
                f"install Job {meta['namespace']}/{meta['name']} of another run or release is still running on {node}: "
                "wait for it, or delete it, then resume"
            )
        ops.delete_job(meta["namespace"], meta["name"], reason="an earlier install Job of this node, finished")
        deadline = self.clock.monotonic() + GONE_WAIT_S
        while ops.job(meta["namespace"], meta["name"]) is not None:
            if self.clock.monotonic() > deadline:
                raise NodeFailed(f"install Job {meta['namespace']}/{meta['name']} was deleted but did not go")
            self.clock.sleep(JOB_POLL_S)


def _ours(job: Job, run_id: int, target: str) -> bool:
    labels = job["metadata"].get("labels") or {}
    return labels.get(RUN_LABEL) == str(run_id) and labels.get(RELEASE_LABEL) == target
