"""The Kata world: OnDelete upgrades, install failures, smoke pods, faults, determinism, bad requests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes import client

from simulator.faults import ScenarioError, load_scenario
from simulator.fleet import make_fleet
from simulator.server import ServerOptions, Simulator
from tests.support.sim import admin, api_client, raw, wait_for

ENV = "reporter.fleetctl.io/kata-env"
VERSION_FILE = "reporter.fleetctl.io/version-file"


def _deploy_pod(core: client.CoreV1Api, node: str) -> client.V1Pod:
    pods = core.list_namespaced_pod(
        "kube-system", label_selector="name=kata-deploy", field_selector=f"spec.nodeName={node}"
    ).items
    assert len(pods) == 1
    return pods[0]


def _set_template(apps: client.AppsV1Api, version: str) -> None:
    image = f"quay.io/kata-containers/kata-deploy:{version}"
    apps.patch_namespaced_daemon_set(
        "kata-deploy",
        "kube-system",
        {"spec": {"template": {"spec": {"containers": [{"name": "kube-kata", "image": image}]}}}},
    )


def test_on_delete_upgrades_exactly_the_node_whose_pod_is_deleted(fresh_sim: Simulator) -> None:
    api = api_client(fresh_sim)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    node = "kata-s390x-0001"
    before = {n: t.installed for n, t in fresh_sim.world.nodes.items()}
    _set_template(apps, "4.1.0")
    # OnDelete: a template change alone installs nothing.
    assert _deploy_pod(core, node).spec.containers[0].image.endswith(":" + before[node])
    old = _deploy_pod(core, node)
    core.delete_namespaced_pod(old.metadata.name, "kube-system")

    def upgraded() -> bool:
        n = core.read_node(node)
        return (
            n.metadata.annotations.get(VERSION_FILE) == "4.1.0"
            and n.metadata.labels["katacontainers.io/kata-runtime"] == "true"
        )

    wait_for(upgraded, what=f"{node} to report 4.1.0")
    n = core.read_node(node)
    env = json.loads(n.metadata.annotations[ENV])
    assert env["Runtime"]["Version"]["Version"]["Semver"] == "4.1.0"
    assert env["Hypervisor"]["MachineType"] == "s390-ccw-virtio"
    assert "QEMU emulator version 11.0.1" in env["Hypervisor"]["Version"]
    handlers = {h.name for h in n.status.runtime_handlers}
    assert {"kata-qemu", "kata-qemu-runtime-rs"} <= handlers and "kata-clh" not in handlers
    assert any(c.type == "Ready" and c.status == "True" for c in n.status.conditions)
    new = _deploy_pod(core, node)
    assert new.metadata.name != old.metadata.name and new.spec.containers[0].image.endswith(":4.1.0")
    after = fresh_sim.world.truth()
    assert {k: v["installed"] for k, v in after.items() if k != node} == {k: v for k, v in before.items() if k != node}
    stats = admin(fresh_sim, "/_sim/stats")
    assert stats["kataDeployPodDeletions"] == {node: 1} and stats["installs"] == {node: 1}


def test_an_injected_install_failure_leaves_the_node_claimed_and_on_its_old_release(fresh_sim: Simulator) -> None:
    api = api_client(fresh_sim)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    node = "kata-amd64-0005"
    old_version = fresh_sim.world.nodes[node].installed
    admin(fresh_sim, "/_sim/faults", "PATCH", {"installFailures": [{"arch": "amd64", "release": "4.1.0", "rate": 1.0}]})
    _set_template(apps, "4.1.0")
    core.delete_namespaced_pod(_deploy_pod(core, node).metadata.name, "kube-system")

    def crash_looping() -> bool:
        statuses = _deploy_pod(core, node).status.container_statuses or []
        return any(cs.state.waiting and cs.state.waiting.reason == "CrashLoopBackOff" for cs in statuses)

    wait_for(crash_looping, what="kata-deploy to crash-loop")
    n = core.read_node(node)
    assert n.metadata.labels["katacontainers.io/kata-runtime"] == "false"
    assert n.metadata.annotations[VERSION_FILE] == old_version
    assert admin(fresh_sim, "/_sim/stats")["installFailures"] == {node: 1}
    events = core.list_namespaced_event("kube-system", field_selector="reason=BackOff").items
    assert any(e.involved_object.name == _deploy_pod(core, node).metadata.name for e in events)


def _smoke_pod(name: str, node: str, runtime_class: str) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, annotations={"sim.fleetctl.io/run-seconds": "5"}),
        spec=client.V1PodSpec(
            node_name=node,
            runtime_class_name=runtime_class,
            restart_policy="Never",
            active_deadline_seconds=30,
            containers=[
                client.V1Container(name="smoke", image="quay.io/kata-containers/smoke:1", command=["uname", "-r"])
            ],
        ),
    )


def test_a_smoke_pod_succeeds_with_its_handler_and_fails_without(fresh_sim: Simulator) -> None:
    core = client.CoreV1Api(api_client(fresh_sim))
    no_se = next(n for n, t in fresh_sim.world.nodes.items() if t.spec.arch == "s390x" and not t.spec.secure_execution)
    core.create_namespaced_pod("default", _smoke_pod("smoke-ok", "kata-amd64-0000", "kata-qemu"))
    core.create_namespaced_pod("default", _smoke_pod("smoke-se", no_se, "kata-qemu-se"))
    wait_for(
        lambda: core.read_namespaced_pod("smoke-ok", "default").status.phase == "Succeeded", what="smoke-ok to succeed"
    )
    failed = wait_for(
        lambda: (p := core.read_namespaced_pod("smoke-se", "default")).status.phase == "Failed" and p,
        what="smoke-se to fail",
    )
    assert failed.status.reason == "DeadlineExceeded"
    events = core.list_namespaced_event("default", field_selector="involvedObject.name=smoke-se").items
    sandbox = [e for e in events if e.reason == "FailedCreatePodSandBox"]
    assert sandbox and 'no runtime for "kata-qemu-se" is configured' in sandbox[0].message
    assert sandbox[0].type == "Warning" and sandbox[0].source.host == no_se


def test_not_ready_fault_and_recovery(fresh_sim: Simulator) -> None:
    core = client.CoreV1Api(api_client(fresh_sim))
    admin(fresh_sim, "/_sim/faults", "PATCH", {"notReadyNodes": ["kata-ppc64le-0002"]})
    ready = {c.type: c.status for c in core.read_node("kata-ppc64le-0002").status.conditions}
    assert ready["Ready"] == "Unknown"
    admin(fresh_sim, "/_sim/faults", "PATCH", {"notReadyNodes": []})
    ready = {c.type: c.status for c in core.read_node("kata-ppc64le-0002").status.conditions}
    assert ready["Ready"] == "True"


def test_api_error_rate_fault_fails_some_requests(fresh_sim: Simulator) -> None:
    admin(fresh_sim, "/_sim/faults", "PATCH", {"api": {"errorRate": 0.5}})
    codes = [raw(fresh_sim, "/api/v1/nodes?limit=1")[0] for _ in range(60)]
    assert 15 < codes.count(500) < 45 and codes.count(200) + codes.count(500) == 60
    admin(fresh_sim, "/_sim/faults", "PATCH", {"api": {"errorRate": 0}})
    assert raw(fresh_sim, "/api/v1/nodes?limit=1")[0] == 200


def test_the_same_seed_gives_the_same_fleet() -> None:
    a, b, c = (make_fleet("seed", seed=s) for s in (5, 5, 6))
    assert [(n.name, n.arch, n.zone, n.release, n.custom_kernel, n.cpus) for n in a.nodes] == [
        (n.name, n.arch, n.zone, n.release, n.custom_kernel, n.cpus) for n in b.nodes
    ]
    assert [n.release for n in a.nodes] != [n.release for n in c.nodes]


def test_seed_profile_is_shaped_like_the_users_fleet() -> None:
    fleet = make_fleet("seed", seed=42)
    arches = {a: sum(1 for n in fleet.nodes if n.arch == a) for a in ("amd64", "ppc64le", "s390x")}
    assert len(fleet.nodes) == 400 and all(arches.values())
    assert 9_000 <= fleet.vcpus <= 11_000
    assert {n.zone for n in fleet.nodes} == {"eu-de-1", "eu-de-2", "eu-de-3"}
    assert {n.release for n in fleet.nodes} <= {"3.28.0", "3.29.0", "3.30.0", "3.31.0", "3.32.0", "4.0.0"}
    custom = sum(1 for n in fleet.nodes if n.custom_kernel) / len(fleet.nodes)
    assert 0.10 <= custom <= 0.20
    assert any(n.peer_pods for n in fleet.nodes)


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "code", "reason"),
    [
        ("GET", "/api/v1/nodez", None, {}, 404, "NotFound"),
        ("GET", "/api/v1/nodes/no-such-node", None, {}, 404, "NotFound"),
        ("PUT", "/api/v1/nodes", b"{}", {"Content-Type": "application/json"}, 405, "MethodNotAllowed"),
        (
            "POST",
            "/api/v1/namespaces/default/pods",
            b"{not json",
            {"Content-Type": "application/json"},
            400,
            "BadRequest",
        ),
        ("POST", "/api/v1/namespaces/default/pods", b"[1,2]", {"Content-Type": "application/json"}, 400, "BadRequest"),
        (
            "POST",
            "/api/v1/namespaces/default/pods",
            b'{"metadata":{"name":"x"},"spec":{}}',
            {"Content-Type": "application/json"},
            422,
            "Invalid",
        ),
        (
            "POST",
            "/api/v1/namespaces/default/pods",
            b"a: b",
            {"Content-Type": "application/yaml"},
            415,
            "UnsupportedMediaType",
        ),
        ("PATCH", "/api/v1/nodes/kata-amd64-0000", b"{}", {"Content-Type": "text/plain"}, 415, "UnsupportedMediaType"),
        (
            "PATCH",
            "/api/v1/nodes/kata-amd64-0000",
            b'[{"op":"remove","path":"/nope"}]',
            {"Content-Type": "application/json-patch+json"},
            422,
            "Invalid",
        ),
        ("GET", "/api/v1/nodes?limit=abc", None, {}, 400, "BadRequest"),
        ("GET", "/api/v1/nodes?labelSelector=%28%28", None, {}, 400, "BadRequest"),
        ("GET", "/api/v1/namespaces/default/nodes", None, {}, 404, "NotFound"),
    ],
)
def test_malformed_requests_get_a_status_and_never_crash_the_server(
    sim_small: Simulator, method: str, path: str, body: bytes | None, headers: dict[str, str], code: int, reason: str
) -> None:
    status, answer = raw(sim_small, path, method, body, headers)
    assert (status, answer["kind"], answer["code"], answer["reason"]) == (code, "Status", code, reason)
    assert raw(sim_small, "/api/v1/nodes?limit=1")[0] == 200


def _scenario(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return path


def test_a_valid_scenario_file_is_loaded(tmp_path: Path) -> None:
    faults = load_scenario(
        _scenario(
            tmp_path, "faults:\n  healthRegressions:\n    - {release: 4.1.0, arch: s390x}\n  api: {errorRate: 0.05}\n"
        )
    )
    assert faults.regression_for("s390x", "4.1.0") is not None
    assert faults.regression_for("amd64", "4.1.0") is None
    assert faults.api.errorRate == 0.05


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "faults:\n  installFailures:\n    - {rate: high}\n",
            "faults.installFailures[0].rate: expected a number between 0 and 1, got 'high'",
        ),
        (
            "faults:\n  installFailures:\n    - {rate: 0.5, arch: sparc}\n",
            "faults.installFailures[0].arch: expected one of amd64, arm64, ppc64le, s390x, got 'sparc'",
        ),
        ("faults:\n  healthRegresions: []\n", "faults.healthRegresions: unknown field"),
        ("faults:\n  healthRegressions:\n    - {arch: s390x}\n", "faults.healthRegressions[0].release: required"),
        ("faults:\n  api: {latencyMs: -5}\n", "faults.api.latencyMs: expected a number >= 0, got -5"),
        ("faults: [1]\n", "faults: expected a mapping"),
        ("nodes: 3\n", "expected a mapping with one key, 'faults'"),
        ("faults: {\n", "not valid YAML"),
    ],
)
def test_an_invalid_scenario_names_the_file_the_field_and_what_is_expected(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _scenario(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_the_simulator_command_refuses_a_bad_scenario(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = _scenario(tmp_path, "faults:\n  api: {errorRate: 2}\n")
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "--scenario", str(path)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 2
    assert "faults.api.errorRate: expected a number between 0 and 1, got 2" in result.stderr
    assert "Traceback" not in result.stderr


def test_two_simulators_with_the_same_seed_serve_the_same_nodes(tmp_path: Path) -> None:
    def snapshot(out: Path) -> list[tuple[str, str, str]]:
        with Simulator(ServerOptions(profile="small", seed=3, out_dir=out, churn=False)) as sim:
            nodes = client.CoreV1Api(api_client(sim)).list_node().items
            return [(n.metadata.name, n.metadata.uid, n.metadata.annotations[VERSION_FILE]) for n in nodes]

    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")
