"""Rollouts against the simulator (and a real Prometheus for gates), driven through the CLI.

The simulator runs at x50, so a node's install takes a second or two; every check reads what
the simulator really holds (installed releases, cordons, kata-deploy pod deletions).
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from simulator.server import Simulator
from store.errors import BadInputError
from store.migrate import open_store
from store.runs import audit_rows, read_run
from tests.support.cli import default_sigint
from tests.support.fleet import NEWEST, Fleet, names, where_names
from tests.support.sim import admin, wait_for


@pytest.fixture
def fleet(fresh_sim: Simulator, tmp_path: Path) -> Fleet:
    return Fleet(fresh_sim, tmp_path)


def test_rollout_upgrades_each_node_once_and_leaves_no_cordon(fleet: Fleet) -> None:
    chosen = names(fleet, "amd64", 3) + names(fleet, "s390x", 2)
    plan = fleet.plan_file(
        selector={"where": where_names(chosen)},
        waves={"sizes": [1, 2], "maxUnavailable": 2},
        verify={"smoke": {"runtimeClass": {"amd64": "kata-qemu", "s390x": "kata-qemu"}, "timeout": "30s"}},
    )
    before = fleet.deletions()
    result = fleet.apply(plan)
    assert result.returncode == 0, result.stderr + result.stdout
    installed = fleet.installed()
    assert all(installed[n] == NEWEST for n in chosen)
    after = fleet.deletions()
    assert {n: after.get(n, 0) - before.get(n, 0) for n in chosen} == dict.fromkeys(chosen, 1)
    assert not set(chosen) & set(fleet.cordoned())
    annotations = fleet.node(chosen[0])["metadata"]["annotations"]
    assert annotations["upgrade.fleetctl.io/step"] == "done" and annotations["upgrade.fleetctl.io/run"] == "1"
    status = fleet.status()
    assert status["state"] == "done" and [w["size"] for w in status["waves"]] == [1, 2, 2]
    with open_store(fleet.db) as store:
        actions = {a.action for a in audit_rows(store, 1)}
    assert {"cordon", "evict", "delete-pod", "create-pod", "uncordon", "set-image", "event"} <= actions


def test_install_failures_trip_the_budget_and_pause(fleet: Fleet) -> None:
    admin(fleet.sim, "/_sim/faults", "PATCH", {"installFailures": [{"rate": 1.0, "arch": "ppc64le"}]})
    chosen = names(fleet, "amd64", 1) + names(fleet, "ppc64le", 2)
    plan = fleet.plan_file(selector={"where": where_names(chosen)}, waves={"sizes": [1], "order": "arch-zone"})
    result = fleet.apply(plan)
    assert result.returncode == 1 and "failure budget" in result.stdout
    status = fleet.status()
    states = {n["name"]: n["state"] for n in status["nodes"]}
    assert status["state"] == "paused" and states[chosen[0]] == "done"
    assert sorted(states.values()) == ["done", "failed", "pending"]
    assert not set(chosen) & set(fleet.cordoned())  # the failed node was uncordoned again


def test_drain_policies_when_a_pdb_blocks(fleet: Fleet) -> None:
    app, node = _blocked_app_node(fleet)
    admin(fleet.sim, "/_sim/faults", "PATCH", {"blockingPdbApps": [app]})
    wait_for(lambda: _pdb_allows(fleet, app) == 0, what="the PDB to block")
    plan_fail = fleet.plan_file(
        "fail", selector={"where": where_names([node])}, drain={"timeout": "1s", "onTimeout": "fail"}
    )
    result = fleet.apply(plan_fail)
    assert result.returncode == 1
    step = fleet.status()["nodes"][0]
    assert step["state"] == "failed" and "PodDisruptionBudget" in step["message"]
    assert node not in fleet.cordoned()
    plan_skip = fleet.plan_file(
        "skip", selector={"where": where_names([node])}, drain={"timeout": "1s", "onTimeout": "skip"}
    )
    result = fleet.apply(plan_skip)
    assert result.returncode == 0, result.stderr
    step = fleet.status()["nodes"][0]
    assert step["state"] == "skipped" and node not in fleet.cordoned() and fleet.installed()[node] != NEWEST
    plan_wait = fleet.plan_file(
        "wait",
        selector={"where": where_names([node])},
        drain={"timeout": "1s", "onTimeout": "wait-for-builds", "buildSelector": f"app={app}", "buildWaitLimit": "2s"},
    )
    result = fleet.apply(plan_wait)  # the blocked pod never finishes: waits up to the limit, then fails the node
    step = fleet.status()["nodes"][0]
    assert result.returncode == 1 and step["state"] == "failed" and "buildWaitLimit" in step["message"]
    assert node not in fleet.cordoned()


def _blocked_app_node(fleet: Fleet) -> tuple[str, str]:
    from simulator import resources as r

    for _, entry in fleet.sim.world.store.scan(r.PDBS):
        app = entry.obj["metadata"]["name"]
        selector = entry.obj["spec"]["selector"]["matchLabels"]
        for _, pod in fleet.sim.world.store.scan(r.PODS):
            labels = pod.obj["metadata"].get("labels") or {}
            node = pod.obj["spec"].get("nodeName")
            if node and all(labels.get(k) == v for k, v in selector.items()) and fleet.installed().get(node) != NEWEST:
                return app, node
    raise AssertionError("no PDB-protected pod on a node to upgrade")


def _pdb_allows(fleet: Fleet, app: str) -> int:
    from simulator import resources as r

    for _, entry in fleet.sim.world.store.scan(r.PDBS):
        if entry.obj["metadata"]["name"] == app:
            return int((entry.obj.get("status") or {}).get("disruptionsAllowed", -1))
    return -1


def test_killed_at_twelve_steps_resumes_without_installing_twice(fleet: Fleet) -> None:
    chosen = names(fleet, "amd64", 2)
    plan = fleet.plan_file(selector={"where": where_names(chosen)}, waves={"sizes": [1]})
    before = fleet.deletions()
    points = [
        f"{when}:{step}"
        for step in ("claim", "cordon", "drain", "install", "verify", "uncordon")
        for when in ("before", "after")
    ]
    killed = []
    for i, point in enumerate(points):
        env = {"FLEETCTL_FAILPOINTS": point}
        result = (
            fleet.apply(plan, env=env)
            if i == 0
            else fleet.run("upgrade", "resume", "1", "--poll", "0.05s", "--lease-ttl", "5s", env=env)
        )
        assert result.returncode == -9, (point, result.stdout, result.stderr)
        killed.append(point)
    result = fleet.run("upgrade", "resume", "1", "--poll", "0.05s")
    assert result.returncode == 0, result.stderr
    assert len(killed) == 12
    assert all(fleet.installed()[n] == NEWEST for n in chosen)
    after = fleet.deletions()
    assert {n: after.get(n, 0) - before.get(n, 0) for n in chosen} == dict.fromkeys(chosen, 1)
    assert not set(chosen) & set(fleet.cordoned())
    with open_store(fleet.db) as store:
        view = read_run(store, 1)
    assert view.run.state == "done" and all(s.state == "done" for s in view.steps)


def test_a_second_executor_on_the_same_run_refuses(fleet: Fleet) -> None:
    chosen = names(fleet, "s390x", 3)
    plan = fleet.plan_file(selector={"where": where_names(chosen)}, waves={"sizes": [1]})
    first = subprocess.Popen(
        fleet.args("upgrade", "apply", plan, "--yes", "--poll", "0.05s"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def held() -> bool:
            with open_store(fleet.db) as store:
                try:
                    return bool(read_run(store, 1).run.holder)
                except BadInputError:  # the run is not written yet
                    return False

        wait_for(held, what="the first executor to hold run 1")
        second = fleet.run("upgrade", "resume", "1")
        assert second.returncode == 3 and "being executed by" in second.stderr and "Traceback" not in second.stderr
    finally:
        _out, errs = first.communicate(timeout=240)
    assert first.returncode == 0, errs
    assert all(fleet.installed()[n] == NEWEST for n in chosen)


def test_ctrl_c_stops_at_a_step_boundary_exits_130_and_the_run_resumes(fleet: Fleet) -> None:
    chosen = names(fleet, "ppc64le", 3)
    plan = fleet.plan_file(selector={"where": where_names(chosen)}, waves={"sizes": [1]})
    before = fleet.deletions()
    apply = subprocess.Popen(
        fleet.args("upgrade", "apply", plan, "--yes", "--poll", "0.05s", "--lease-ttl", "5s"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    try:

        def started() -> bool:
            with open_store(fleet.db) as store:
                try:
                    view = read_run(store, 1)
                except BadInputError:  # the run is not written yet
                    return False
                return bool(view.run.holder) and any(s.step != "claim" for s in view.steps)

        wait_for(started, what="run 1 to carry its first node past claim")
        apply.send_signal(signal.SIGINT)
        _out, errs = apply.communicate(timeout=300)
    finally:
        if apply.poll() is None:
            apply.kill()
    assert apply.returncode == 130, errs
    assert "stopping at the next step boundary" in errs
    assert "run 1 interrupted at wave 1; resume with: fleetctl upgrade resume 1" in errs and "Traceback" not in errs
    status = fleet.run("upgrade", "status", "1")
    assert "): interrupted, target" in status.stdout and "fleetctl upgrade resume 1" in status.stderr
    assert fleet.status(1)["state"] == "interrupted"
    resumed = fleet.run("upgrade", "resume", "1", "--poll", "0.05s")
    assert resumed.returncode == 0, resumed.stderr
    assert fleet.status(1)["state"] == "done" and all(fleet.installed()[n] == NEWEST for n in chosen)
    after = fleet.deletions()
    assert {n: after.get(n, 0) - before.get(n, 0) for n in chosen} == dict.fromkeys(chosen, 1)
    assert not set(chosen) & set(fleet.cordoned())


def test_rollback_returns_nodes_to_their_previous_release(fleet: Fleet) -> None:
    chosen = names(fleet, "amd64", 2)
    previous = {n: fleet.installed()[n] for n in chosen}
    assert fleet.apply(fleet.plan_file(selector={"where": where_names(chosen)})).returncode == 0
    assert all(fleet.installed()[n] == NEWEST for n in chosen)
    result = fleet.run("upgrade", "rollback", "1", "--yes", "--poll", "0.05s")
    assert result.returncode == 0, result.stderr
    assert {n: fleet.installed()[n] for n in chosen} == previous
    history = json.loads(fleet.run("upgrade", "history", "-o", "json").stdout)["items"]
    assert [(i["kind"], i["state"]) for i in history] == [("rollback", "done"), ("upgrade", "rolled-back")]
    assert not set(chosen) & set(fleet.cordoned())


def test_bad_plan_files_exit_2_and_write_nothing(fleet: Fleet) -> None:
    bad = fleet.tmp / "bad.yaml"
    for text, words in (
        ("spec: [1, 2", "not valid YAML"),
        (
            "apiVersion: fleetctl.io/v1\nkind: UpgradePlan\nmetadata: {name: x}\nspec: {target: 4.1.0, waves: {sizes: [0]}}\n",
            "spec.waves.sizes[0]",
        ),
        (
            "apiVersion: fleetctl.io/v1\nkind: UpgradePlan\nmetadata: {name: x}\nspec: {target: 9.9.9}\n",
            "not in the catalog",
        ),
    ):
        bad.write_text(text)
        result = fleet.apply(str(bad))
        assert result.returncode == 2 and words in result.stderr and "Traceback" not in result.stderr, result.stderr
    bad.write_bytes(b"\xff\xfe not utf-8")
    assert fleet.run("upgrade", "plan", str(bad)).returncode == 2
    newer = fleet.plan_file("down", target="3.24.0")  # a valid file that apply refuses, as plan says: exit 1
    result = fleet.apply(newer)
    assert result.returncode == 1 and "downgrade" in result.stderr and "--allow-downgrade" in result.stderr
    assert json.loads(fleet.run("upgrade", "history", "-o", "json").stdout)["items"] == []


def test_plan_shows_waves_exclusions_and_estimate(fleet: Fleet) -> None:
    plan = fleet.plan_file(selector={"arch": ["s390x", "amd64"]}, waves={"sizes": [1, "50%"]})
    result = fleet.run("upgrade", "plan", plan, "-o", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    truth = fleet.sim.world.truth()
    planned = {n["name"] for w in doc["waves"] for n in w["nodes"]}
    assert planned == {n for n, t in truth.items() if t["arch"] in ("s390x", "amd64") and t["installed"] != NEWEST}
    reasons = {e["name"]: e["reason"] for e in doc["excluded"]}
    assert all(reasons[n] == "outside-selector" for n, t in truth.items() if t["arch"] == "ppc64le")
    assert doc["estimatedSeconds"] > 0 and len(doc["waves"][0]["nodes"]) == 1
    table = fleet.run("upgrade", "plan", plan)
    assert "WAVE" in table.stdout and "estimated" in table.stdout


@pytest.fixture
def gated(fresh_sim: Simulator, prometheus_fresh: str, tmp_path: Path) -> Fleet:
    return Fleet(fresh_sim, tmp_path, prometheus_fresh)


SCRAPE_FAILURES = 'max(rate(kata_monitor_scrape_failed_count{node=~"{{nodes}}"}[15s]))'


def test_an_s390x_regression_pauses_at_the_first_wave_with_s390x(gated: Fleet) -> None:
    admin(gated.sim, "/_sim/faults", "PATCH", {"healthRegressions": [{"release": NEWEST, "arch": "s390x"}]})
    chosen = names(gated, "amd64", 2) + names(gated, "ppc64le", 2) + names(gated, "s390x", 2)
    plan = gated.plan_file(
        selector={"where": where_names(chosen)},
        waves={"sizes": [2], "order": "arch-zone", "maxUnavailable": 2},
        gates={
            "soak": "5s",
            "checks": [
                {
                    "name": "scrape-failures",
                    "query": SCRAPE_FAILURES,
                    "successCondition": "value < 0.1",
                    "interval": "1s",
                    "count": 2,
                }
            ],
        },
    )
    planned = json.loads(gated.run("upgrade", "plan", plan, "-o", "json").stdout)
    first_s390x = next(w["number"] for w in planned["waves"] if any(n["arch"] == "s390x" for n in w["nodes"]))
    result = gated.apply(plan)
    assert result.returncode == 1, result.stderr
    status = gated.status()
    failed = [w for w in status["waves"] if w["gate"] == "failed"]
    assert status["state"] == "paused" and [w["number"] for w in failed] == [first_s390x]
    assert "scrape-failures" in status["message"]
    assert all(w["gate"] == "passed" for w in status["waves"] if w["number"] < first_s390x)
    assert failed[0]["gateResults"][0]["measurements"][-1]["values"][0] >= 0.1


def test_a_gate_with_no_data_fails_closed(gated: Fleet) -> None:
    plan = gated.plan_file(
        selector={"where": where_names(names(gated, "amd64", 1))},
        gates={
            "soak": "0s",
            "checks": [{"name": "absent", "query": "kata_metric_that_does_not_exist", "successCondition": "value < 1"}],
        },
    )
    result = gated.apply(plan)
    assert result.returncode == 1
    status = gated.status()
    assert status["state"] == "paused" and "no data" in status["waves"][0]["gateMessage"]


def test_no_node_starts_outside_the_maintenance_window(fleet: Fleet) -> None:
    chosen = names(fleet, "amd64", 1)
    plan = fleet.plan_file(selector={"where": where_names(chosen)}, window={"schedule": "0 0 1 1 *", "duration": "1h"})
    result = fleet.apply(plan)
    assert result.returncode == 1 and "maintenance window" in result.stdout
    status = fleet.status()
    assert status["state"] == "paused" and status["nodes"][0]["step"] == "claim"
    assert fleet.installed()[chosen[0]] != NEWEST and chosen[0] not in fleet.cordoned()


def test_wait_for_builds_lets_a_protected_build_finish(fleet: Fleet) -> None:
    from kubernetes import client

    from tests.support.sim import api_client

    node = names(fleet, "amd64", 1)[0]
    api = api_client(fleet.sim)
    labels = {"fleetctl-test": "build"}
    client.PolicyV1Api(api).create_namespaced_pod_disruption_budget(
        "default",
        {"metadata": {"name": "build-pdb"}, "spec": {"maxUnavailable": 0, "selector": {"matchLabels": labels}}},
    )
    client.CoreV1Api(api).create_namespaced_pod(
        "default",
        {
            "metadata": {"name": "build-1", "labels": labels, "annotations": {"sim.fleetctl.io/run-seconds": "400"}},
            "spec": {"nodeName": node, "restartPolicy": "Never", "containers": [{"name": "step", "image": "busybox"}]},
        },
    )
    wait_for(
        lambda: client.CoreV1Api(api).read_namespaced_pod("build-1", "default").status.phase == "Running",
        what="the build to run",
    )
    plan = fleet.plan_file(
        selector={"where": where_names([node])},
        drain={
            "timeout": "3s",
            "onTimeout": "wait-for-builds",
            "buildSelector": "fleetctl-test=build",
            "buildWaitLimit": "60s",
        },
    )
    result = fleet.apply(plan)
    assert result.returncode == 0, result.stderr + result.stdout
    assert fleet.installed()[node] == NEWEST
    assert client.CoreV1Api(api).read_namespaced_pod("build-1", "default").status.phase == "Succeeded"


def test_a_breached_budget_with_on_breach_rollback_rolls_back(fleet: Fleet) -> None:
    admin(
        fleet.sim, "/_sim/faults", "PATCH", {"installFailures": [{"rate": 1.0, "arch": "ppc64le", "release": NEWEST}]}
    )
    chosen = names(fleet, "amd64", 1) + names(fleet, "ppc64le", 1)
    previous = {n: fleet.installed()[n] for n in chosen}
    plan = fleet.plan_file(
        selector={"where": where_names(chosen)},
        waves={"sizes": [1], "order": "arch-zone"},
        failureBudget={"perRun": 0, "onBreach": "rollback"},
    )
    result = fleet.apply(plan)
    assert result.returncode == 1 and "rolled-back" in result.stdout, result.stderr
    assert {n: fleet.installed()[n] for n in chosen} == previous
    history = json.loads(fleet.run("upgrade", "history", "-o", "json").stdout)["items"]
    assert [(i["kind"], i["state"]) for i in history] == [("rollback", "done"), ("upgrade", "rolled-back")]
    assert not set(chosen) & set(fleet.cordoned())
