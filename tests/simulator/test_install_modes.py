"""How kata-deploy is deployed: per-node install Jobs, label-selected installers, a RollingUpdate
DaemonSet and Helm's marks, against the in-memory backend over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from simulator import kata
from simulator.cli import options_from, parser
from simulator.installmode import InstallMode
from simulator.server import ServerOptions, Simulator
from tests.support.sim import admin, api_client, kubectl, wait_for

NEWEST = kata.NEWEST
VERSION_FILE = kata.ANNOTATION_VERSION_FILE
HELM_LABELS = {"app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/instance": "kata-deploy"}
HELM_ANNOTATIONS = {"meta.helm.sh/release-name": "kata-deploy", "meta.helm.sh/release-namespace": "kube-system"}


@contextmanager
def _sim(tmp_path: Path, mode: InstallMode, *, helm: bool = False, nodes: int = 4) -> Iterator[Simulator]:
    options = ServerOptions(
        profile="small", nodes=nodes, seed=5, time_scale=50, out_dir=tmp_path / "sim", bookmark_seconds=0.3,
        churn=False, install_mode=mode, helm=helm,
    )  # fmt: skip
    with Simulator(options) as sim:
        yield sim


def _older_node(sim: Simulator) -> str:
    """A node not yet at the newest release (with a workload pod on it, when one has)."""
    names = [n for n, t in sim.world.nodes.items() if t.installed != NEWEST and t.spec.ready]
    return next((n for n in names if _workloads(sim, n)), names[0])


def _workloads(sim: Simulator, node: str) -> dict[str, str]:
    """The start times of the node's pods that no DaemonSet or Job owns (its workload sandboxes)."""
    out = {}
    for entry in sim.world.pods_on(node):
        pod = entry.obj
        kind = (pod["metadata"].get("ownerReferences") or [{}])[0].get("kind")
        if kind not in ("DaemonSet", "Job") and pod.get("status", {}).get("startTime"):
            out[pod["metadata"]["name"]] = pod["status"]["startTime"]
    return out


def _install_job(core: client.CoreV1Api, name: str, node: str, version: str) -> dict[str, Any]:
    cm = core.read_namespaced_config_map("kata-deploy-job-templates", "kube-system")
    job: dict[str, Any] = yaml.safe_load(cm.data["install-job.yaml"])
    assert "name" not in job["metadata"] and "nodeName" not in job["spec"]["template"]["spec"]
    job["metadata"]["name"] = name
    job["spec"]["template"]["spec"]["nodeName"] = node
    job["spec"]["template"]["spec"]["containers"][0]["image"] = kata.deploy_image(version)
    return job


def _reports(core: client.CoreV1Api, node: str, version: str) -> bool:
    return bool(core.read_node(node).metadata.annotations.get(VERSION_FILE) == version)


def test_a_per_node_job_installs_its_release_and_completes(tmp_path: Path) -> None:
    with _sim(tmp_path, InstallMode.JOB, helm=True) as sim:
        api = api_client(sim)
        core, batch, apps = client.CoreV1Api(api), client.BatchV1Api(api), client.AppsV1Api(api)
        assert "kata-deploy" not in {d.metadata.name for d in apps.list_daemon_set_for_all_namespaces().items}
        assert not core.list_namespaced_pod("kube-system", label_selector="name=kata-deploy").items
        cm = core.read_namespaced_config_map("kata-deploy-job-templates", "kube-system")
        assert HELM_LABELS.items() <= cm.metadata.labels.items()
        assert HELM_ANNOTATIONS.items() <= cm.metadata.annotations.items()
        template = yaml.safe_load(cm.data["install-job.yaml"])
        assert template["spec"]["backoffLimit"] == 2 and template["spec"]["ttlSecondsAfterFinished"] == 300
        pod_spec = template["spec"]["template"]["spec"]
        assert pod_spec["restartPolicy"] == "Never" and pod_spec["containers"][0]["name"] == "kube-kata-install"
        assert "jobs" in kubectl(sim, "api-resources", "--api-group=batch", "-o", "name").stdout

        node = _older_node(sim)
        sandboxes = _workloads(sim, node)
        labels_before = core.read_node(node).metadata.labels
        batch.create_namespaced_job("kube-system", _install_job(core, "kata-install-a", node, NEWEST))

        def complete() -> client.V1Job | None:
            job = batch.read_namespaced_job("kata-install-a", "kube-system")
            return job if job.status.succeeded else None

        job = wait_for(complete, what="the install Job to complete")
        assert [c.type for c in job.status.conditions] == ["SuccessCriteriaMet", "Complete"]
        assert job.status.completion_time and not job.status.active
        (pod,) = core.list_namespaced_pod(
            "kube-system", label_selector="batch.kubernetes.io/job-name=kata-install-a"
        ).items
        assert pod.spec.node_name == node and pod.status.phase == "Succeeded"
        assert pod.metadata.owner_references[0].kind == "Job" and pod.metadata.name.startswith("kata-install-a-")
        terminated = pod.status.container_statuses[0].state.terminated
        assert (terminated.exit_code, terminated.reason) == (0, "Completed")
        wait_for(lambda: _reports(core, node, NEWEST), what=f"{node} to report {NEWEST}")
        node_obj = core.read_node(node)
        assert node_obj.metadata.labels[kata.LABEL_RUNTIME] == labels_before[kata.LABEL_RUNTIME]  # the dispatcher's
        assert {h.name for h in node_obj.status.runtime_handlers} >= {"kata-qemu"}
        assert sim.truth()[node]["installed"] == NEWEST
        assert admin(sim, "/_sim/stats")["installs"] == {node: 1}
        assert _workloads(sim, node) == sandboxes  # the sandboxes kept running through the install

        batch.delete_namespaced_job("kata-install-a", "kube-system", propagation_policy="Background")
        wait_for(
            lambda: not core.list_namespaced_pod("kube-system", label_selector="job-name=kata-install-a").items,
            what="the Job's pod to go with it",
        )


def test_an_install_failure_fails_the_job_after_its_backoff_limit(tmp_path: Path) -> None:
    with _sim(tmp_path, InstallMode.JOB) as sim:
        api = api_client(sim)
        core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
        node = _older_node(sim)
        old = sim.world.nodes[node].installed
        arch = sim.world.nodes[node].spec.arch
        admin(sim, "/_sim/faults", "PATCH", {"installFailures": [{"arch": arch, "release": NEWEST, "rate": 1.0}]})
        batch.create_namespaced_job("kube-system", _install_job(core, "kata-install-b", node, NEWEST))

        def failed() -> client.V1Job | None:
            job = batch.read_namespaced_job("kata-install-b", "kube-system")
            return job if any(c.type == "Failed" and c.status == "True" for c in job.status.conditions or []) else None

        job = wait_for(failed, what="the install Job to fail")
        final = job.status.conditions[-1]
        assert (final.reason, final.message) == ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        assert [c.type for c in job.status.conditions] == ["FailureTarget", "Failed"] and job.status.failed == 3
        pods = core.list_namespaced_pod("kube-system", label_selector="job-name=kata-install-b").items
        assert len(pods) == 3 and {p.status.phase for p in pods} == {"Failed"}
        terminated = pods[0].status.container_statuses[0].state.terminated
        assert (terminated.exit_code, terminated.reason) == (1, "Error")
        assert terminated.message == f"kata-deploy: install failed on {node}"
        assert sim.truth()[node]["installed"] == old and core.read_node(node).metadata.annotations[VERSION_FILE] == old


def test_a_changed_install_label_replaces_the_installer_pod(tmp_path: Path) -> None:
    with _sim(tmp_path, InstallMode.LABEL) as sim:
        api = api_client(sim)
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        installers = apps.list_namespaced_daemon_set("kata-installer").items
        assert {d.metadata.name for d in installers} == {f"kata-installer-{v.replace('.', '-')}" for v in kata.RELEASES}
        assert "kata-deploy" not in {d.metadata.name for d in apps.list_daemon_set_for_all_namespaces().items}
        node = _older_node(sim)
        old = sim.world.nodes[node].installed
        assert core.read_node(node).metadata.labels["fleetctl.io/kata-release"] == old

        def installer_pods() -> list[client.V1Pod]:
            pods = core.list_namespaced_pod("kata-installer", field_selector=f"spec.nodeName={node}").items
            return [p for p in pods if not p.metadata.deletion_timestamp]

        (before,) = installer_pods()
        assert before.metadata.labels["fleetctl.io/release"] == old
        sandboxes = _workloads(sim, node)
        core.patch_node(node, {"metadata": {"labels": {"fleetctl.io/kata-release": NEWEST}}})

        def replaced() -> client.V1Pod | None:
            pods = core.list_namespaced_pod("kata-installer", field_selector=f"spec.nodeName={node}").items
            return pods[0] if len(pods) == 1 and pods[0].metadata.labels["fleetctl.io/release"] == NEWEST else None

        pod = wait_for(replaced, what="the new release's installer to replace the old one")
        assert pod.metadata.owner_references[0].name == f"kata-installer-{NEWEST.replace('.', '-')}"
        assert pod.spec.containers[0].image == kata.deploy_image(NEWEST)
        wait_for(lambda: _reports(core, node, NEWEST), what=f"{node} to report {NEWEST}")
        assert core.read_node(node).metadata.labels[kata.LABEL_RUNTIME] == "true"
        assert sim.truth()[node]["installed"] == NEWEST and admin(sim, "/_sim/stats")["installs"] == {node: 1}
        assert _workloads(sim, node) == sandboxes

        core.patch_node(node, {"metadata": {"labels": {"fleetctl.io/kata-release": None}}})
        wait_for(lambda: not installer_pods(), what="the installer to leave an unlabelled node")
        assert sim.truth()[node]["installed"] == NEWEST  # it keeps what it has


def test_a_rolling_update_rolls_the_pods_by_itself(tmp_path: Path) -> None:
    with _sim(tmp_path, InstallMode.ROLLING, nodes=3) as sim:
        api = api_client(sim)
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        ds = apps.read_namespaced_daemon_set("kata-deploy", "kube-system")
        assert ds.spec.update_strategy.type == "RollingUpdate"
        image = kata.deploy_image(NEWEST)
        apps.patch_namespaced_daemon_set(
            "kata-deploy",
            "kube-system",
            {"spec": {"template": {"spec": {"containers": [{"name": "kube-kata", "image": image}]}}}},
        )

        def rolled() -> bool:
            pods = core.list_namespaced_pod("kube-system", label_selector="name=kata-deploy").items
            return len(pods) == len(sim.world.nodes) and all(
                p.spec.containers[0].image == image and p.status.phase == "Running" for p in pods
            )

        wait_for(rolled, what="every kata-deploy pod to roll to the new image")
        wait_for(
            lambda: all(t["installed"] == NEWEST for n, t in sim.truth().items() if sim.world.nodes[n].spec.ready),
            what=f"every node to install {NEWEST}",
        )


def test_helm_marks_the_kata_deploy_daemonset(tmp_path: Path) -> None:
    with _sim(tmp_path, InstallMode.ONDELETE, helm=True, nodes=2) as sim:
        apps = client.AppsV1Api(api_client(sim))
        ds = apps.read_namespaced_daemon_set("kata-deploy", "kube-system")
        template = sim.world.fleet.template_version
        assert {**HELM_LABELS, "helm.sh/chart": f"kata-deploy-{template}"}.items() <= ds.metadata.labels.items()
        assert HELM_ANNOTATIONS.items() <= ds.metadata.annotations.items()
        assert ds.spec.update_strategy.type == "OnDelete"


def test_the_command_line_takes_the_install_mode_and_helm() -> None:
    options = options_from(parser().parse_args(["--install-mode", "job", "--helm"]))
    assert options.install_mode is InstallMode.JOB and options.helm
    default = options_from(parser().parse_args([]))
    assert default.install_mode is InstallMode.ONDELETE and not default.helm
    assert default.install_label == "fleetctl.io/kata-release"
