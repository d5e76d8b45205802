"""The real kubectl against the tier: every command runs against kube-apiserver, so these now test
our node agent (pods that run, drains that finish), not a server of our own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.server import Simulator
from tests.support.sim import kubectl, wait_for

pytestmark = pytest.mark.xdist_group("kube")


def ok(sim: Simulator, *args: str, timeout: float = 300) -> str:
    result = kubectl(sim, *args, timeout=timeout)
    assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
    return result.stdout


def test_create_run_and_wait_for_a_kata_pod(kube: Simulator) -> None:
    assert "namespace/kubectl-run created" in ok(kube, "create", "namespace", "kubectl-run")
    overrides = json.dumps({"spec": {"runtimeClassName": "kata-qemu"}})
    ok(kube, "run", "smoke", "-n", "kubectl-run", "--image=busybox:1.37", "--restart=Never", f"--overrides={overrides}", "--", "true")  # fmt: skip
    ok(kube, "wait", "-n", "kubectl-run", "--for=jsonpath={.status.phase}=Succeeded", "pod/smoke", "--timeout=240s")
    pod = json.loads(ok(kube, "get", "pod", "smoke", "-n", "kubectl-run", "-o", "json"))
    assert pod["spec"]["nodeName"] in kube.world.nodes  # the real scheduler placed it on a Kata node
    assert pod["spec"]["overhead"] == {"cpu": "250m", "memory": "320Mi"}  # the RuntimeClass admission plugin
    assert pod["spec"]["nodeSelector"] == {"katacontainers.io/kata-runtime": "true"}


def test_apply_client_side_and_server_side(kube: Simulator, tmp_path: Path) -> None:
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: applied, namespace: default}\ndata: {a: '1'}\n"
    )
    assert "configmap/applied created" in ok(kube, "apply", "-f", str(manifest))
    manifest.write_text(manifest.read_text().replace("'1'", "'2'"))
    assert "serverside-applied" in ok(kube, "apply", "--server-side", "-f", str(manifest))
    assert ok(kube, "get", "configmap", "applied", "-o", "jsonpath={.data.a}") == "2"


def test_explain_auth_and_crds(kube: Simulator) -> None:
    assert "runtimeClassName" in ok(kube, "explain", "pods.spec.runtimeClassName")
    assert ok(kube, "auth", "can-i", "patch", "nodes").strip() == "yes"
    assert "fleetctl-admin" in ok(kube, "auth", "whoami")
    assert "peerpods.confidentialcontainers.org" in ok(kube, "get", "crd")


def test_drain_honours_the_pdb_and_finishes(kube: Simulator) -> None:
    node = next(n for n in sorted(kube.world.nodes) if any(
        e.obj["metadata"]["namespace"] == "apps" for e in kube.world.pods_on(n)))  # fmt: skip
    try:
        out = ok(kube, "drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=240s")
        assert f"node/{node} drained" in out
        assert not [e for e in kube.world.pods_on(node) if e.obj["metadata"]["namespace"] == "apps"]
    finally:
        ok(kube, "uncordon", node)

    def replaced() -> bool:  # the ReplicaSets made the evicted replicas again, and they run elsewhere
        rs = json.loads(ok(kube, "get", "rs", "-n", "apps", "-o", "json"))["items"]
        return all(r["status"].get("readyReplicas", 0) == r["spec"]["replicas"] for r in rs)

    wait_for(replaced, interval=0.5, what="every app's ReplicaSet ready again")


def test_rollout_status_of_a_daemonset(kube: Simulator) -> None:
    out = ok(kube, "rollout", "status", "daemonset/kata-monitor", "-n", "kube-system", "--timeout=240s")
    assert "successfully rolled out" in out


def test_a_pod_whose_handler_the_node_lacks_fails_its_sandbox(kube: Simulator) -> None:
    node = next(n for n, t in sorted(kube.world.nodes.items()) if t.spec.arch == "amd64")
    overrides = json.dumps({"spec": {"runtimeClassName": "kata-qemu-se", "nodeName": node, "activeDeadlineSeconds": 5}})
    ok(kube, "run", "no-se", "-n", "default", "--image=busybox:1.37", "--restart=Never", f"--overrides={overrides}")

    def sandbox_failed() -> bool:
        out = ok(
            kube,
            "get",
            "events",
            "-n",
            "default",
            "--field-selector",
            "involvedObject.name=no-se,reason=FailedCreatePodSandBox",
        )
        return 'no runtime for "kata-qemu-se" is configured' in out

    wait_for(sandbox_failed, interval=0.5, what="FailedCreatePodSandBox for the missing handler")
    ok(kube, "wait", "--for=jsonpath={.status.phase}=Failed", "pod/no-se", "--timeout=240s")  # its deadline ran out
