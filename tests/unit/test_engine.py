"""The upgrade engine in-process: the real planner, executor and node flow, a real SQLite store, and
a fake cluster on a fake clock (tests/support/fakecluster.py). No simulator, no subprocess: each
test runs in milliseconds, and none depends on the machine's speed."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from clients.kube.errors import KubeForbidden
from store.engine import Store
from store.migrate import open_store
from store.models import now
from store.runs import claim_run, read_run, release_run
from store.snapshots import record_snapshot
from store.states import NodeOutcome, Outcome, RunState, Step, StepState, WaveState
from tests.support.fakecluster import FakeClock, FakeCluster, FakeLock, small_fleet
from upgrades.controls import Requested, request_abort, request_pause
from upgrades.deployment import HELM_CHART, helm_lines
from upgrades.executor import WINDOW_CLOSED, Executor, ExecutorOptions
from upgrades.launch import create_rollback, create_run_from_plan, plan_from_store
from upgrades.lease import RunLease, RunLockedError
from upgrades.plandoc import plan_doc
from upgrades.planfile import parse_plan
from upgrades.ports import Ports, RunLock
from upgrades.scheduling import reopen
from upgrades.window import Window, next_opening

TARGET = "4.1.0"


@dataclass
class Engine:
    """One run on a fake cluster."""

    store: Store
    cluster: FakeCluster
    clock: FakeClock
    run_id: int
    lock: FakeLock
    metrics: Any = None

    def executor(self, lock: RunLock | None = None, **options: Any) -> Executor:
        def cluster(_name: str, run_id: int) -> FakeCluster:
            self.cluster.run_id, self.cluster.marker = run_id, f"run-{run_id}"
            return self.cluster

        ports = Ports(cluster=cluster, lock=lambda _names, _run: lock or self.lock, metrics=self.metrics)
        return Executor(
            self.store, {}, self.run_id, ExecutorOptions(poll_s=0.01, clock=self.clock, **options), ports=ports
        )

    def steps(self) -> dict[str, Any]:
        return {s.node: s for s in read_run(self.store, self.run_id).steps}

    def cordoned(self) -> list[str]:
        return [n for n, obj in self.cluster.nodes.items() if obj["spec"].get("unschedulable")]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"sqlite:///{tmp_path / 'engine.db'}")
    yield s
    s.close()


def engine(store: Store, nodes: int = 4, *, metrics: Any = None, clock: FakeClock | None = None, **spec: Any) -> Engine:
    clock = clock or FakeClock()
    cluster = FakeCluster(small_fleet(nodes), clock)
    with store.write() as session:
        facts = [cluster.facts(n, {}) for n in cluster.nodes.values()]
        record_snapshot(session, cluster.cluster, facts, at=now(), server="https://fake")
    body = {"target": TARGET, "gates": {"enabled": False}, "safety": {"minHealthyPercent": 0}, **spec}
    plan = plan_from_store(store, parse_plan(plan_doc("engine", body)))
    return Engine(store, cluster, clock, create_run_from_plan(store, plan), FakeLock(), metrics)


def test_a_run_upgrades_each_node_once_and_leaves_no_cordon(store: Store) -> None:
    e = engine(store, 4, waves={"sizes": [1, 3], "maxUnavailable": 2})
    assert e.executor().execute() == Outcome.DONE
    assert {n: s.state for n, s in e.steps().items()} == dict.fromkeys(e.cluster.nodes, StepState.DONE)
    assert e.cluster.installs == dict.fromkeys(e.cluster.nodes, 1)
    assert not e.cordoned() and e.lock.acquired == e.lock.released == 1
    assert all(e.cluster.facts(n, {}).kata_version == TARGET for n in e.cluster.nodes.values())
    assert sorted(r for _, r in e.cluster.events).count("FleetctlUpgraded") == 4


def test_a_pdb_refusal_is_asked_again_until_it_lets_go(store: Store) -> None:
    e = engine(store, 1, drain={"timeout": "10m"})
    node = next(iter(e.cluster.nodes))
    e.cluster.add_pod("app-0", "apps", node, labels={"app": "a"})
    e.cluster.refusals["app-0"] = 3
    assert e.executor().execute() == Outcome.DONE
    drained = e.steps()[node].facts["drain"]
    assert drained["removed"] == 1 and drained["refused"] == 3 and drained["refusedPods"] == ["apps/app-0"]
    assert e.cluster.calls.count("evict", "app-0") == 4


@pytest.mark.parametrize(("policy", "state", "reason"), [("skip", StepState.SKIPPED, "onTimeout: skip"),
                                                         ("fail", StepState.FAILED, "onTimeout: fail")])  # fmt: skip
def test_a_drain_that_times_out_ends_the_node_by_its_policy_and_uncordons_it(
    store: Store, policy: str, state: StepState, reason: str
) -> None:
    e = engine(
        store, 1, drain={"timeout": "30s", "onTimeout": policy}, failureBudget={"perRun": "100%", "perWave": "100%"}
    )
    node = next(iter(e.cluster.nodes))
    e.cluster.add_pod("app-0", "apps", node)
    e.cluster.refusals["app-0"] = 10**6
    assert e.executor().execute() == Outcome.DONE
    step = e.steps()[node]
    assert step.state == state and "drain timed out after 30s; 1 pods remain (apps/app-0)" in step.message
    assert reason in step.message and not e.cordoned() and e.cluster.installs == {}


def test_wait_for_builds_lets_the_build_finish_then_installs(store: Store) -> None:
    e = engine(store, 1, drain={"timeout": "30s", "onTimeout": "wait-for-builds", "buildWaitLimit": "2h"})
    node = next(iter(e.cluster.nodes))
    e.cluster.add_pod("build-1", "ci-builds", node, labels={"app.kubernetes.io/managed-by": "tekton-pipelines"})
    e.cluster.refusals["build-1"] = 10**6
    e.cluster.ends[("ci-builds", "build-1")] = e.clock.monotonic() + 1800  # it finishes in half an hour
    assert e.executor().execute() == Outcome.DONE, (read_run(store, e.run_id).run.message, e.steps()[node].message)
    drained = e.steps()[node].facts["drain"]
    assert drained["waitedForBuilds"] >= 1700 and e.cluster.installs == {node: 1}


def test_a_crash_looping_kata_deploy_fails_the_node_with_its_reason(store: Store) -> None:
    e = engine(store, 2, waves={"sizes": [2], "maxUnavailable": 2}, failureBudget={"perRun": "100%", "perWave": "100%"})
    bad, good = sorted(e.cluster.nodes)
    e.cluster.failing_installs.add(bad)
    assert e.executor().execute() == Outcome.DONE
    steps = e.steps()
    assert steps[bad].state == StepState.FAILED and "kata-deploy failed on" in steps[bad].message
    assert "CrashLoopBackOff" in steps[bad].message and steps[good].state == StepState.DONE
    assert not e.cordoned()


def test_an_install_slower_than_its_timeout_fails_the_node(store: Store) -> None:
    e = engine(store, 1, install={"timeout": "5m"}, failureBudget={"perRun": "100%", "perWave": "100%"})
    e.cluster.install_seconds = dict.fromkeys(e.cluster.install_seconds, 3600.0)
    assert e.executor().execute() == Outcome.DONE
    (step,) = e.steps().values()
    assert step.state == StepState.FAILED and "did not report Kata 4.1.0 within 300s" in step.message


def test_a_smoke_pod_without_its_handler_fails_verify(store: Store) -> None:
    smoke = {"runtimeClass": dict.fromkeys(("amd64", "s390x", "ppc64le"), "kata-nope"), "timeout": "1m"}
    e = engine(store, 1, verify={"smoke": smoke}, failureBudget={"perRun": "100%", "perWave": "100%"})
    assert e.executor().execute() == Outcome.DONE
    (step,) = e.steps().values()
    assert step.state == StepState.FAILED and "smoke pod with RuntimeClass kata-nope ended Failed" in step.message


def test_the_failure_budget_pauses_the_run(store: Store) -> None:
    e = engine(store, 4, waves={"sizes": [2], "maxUnavailable": 2}, failureBudget={"perRun": 0, "onBreach": "pause"})
    e.cluster.failing_installs.update(sorted(e.cluster.nodes)[:2])
    assert e.executor().execute() == Outcome.PAUSED
    run = read_run(store, e.run_id).run
    assert run.state == RunState.PAUSED and "failure budget breached in wave 1" in run.message
    assert sum(s.state == StepState.PENDING for s in e.steps().values()) == 2  # wave 2 never started


def test_no_more_nodes_are_out_at_once_than_max_unavailable(store: Store) -> None:
    e = engine(store, 6, waves={"sizes": [6], "maxUnavailable": 2})
    peak, together = 0, threading.Barrier(2, timeout=120)  # a safety net: the two meet at once
    cordon = e.cluster.cordon

    def counting(name: str, seen: Any = None, *, next_step: Step = Step.DRAIN) -> bool:
        nonlocal peak
        ours = cordon(name, seen, next_step=next_step)
        peak = max(peak, len(e.cordoned()))
        if e.cluster.calls.count("cordon") <= 2:
            together.wait()  # the first two nodes are out at the same time
        return ours

    e.cluster.cordon = counting  # type: ignore[method-assign]
    assert e.executor().execute() == Outcome.DONE
    assert peak == 2 and not e.cordoned()


def test_a_refused_call_gives_the_node_back_and_pauses_the_run(store: Store) -> None:
    e = engine(store, 1)
    node = next(iter(e.cluster.nodes))
    e.cluster.add_pod("app-0", "apps", node)
    e.cluster.errors["evict"] = KubeForbidden('pods "app-0" is forbidden: cannot create pods/eviction', where="ctx")
    with pytest.raises(KubeForbidden) as info:
        e.executor().execute()
    assert "fleetctl upgrade resume" in (info.value.hint or "")
    step = e.steps()[node]
    assert (step.step, step.state) == (Step.CLAIM, StepState.PENDING) and "stopped at drain" in step.message
    assert not e.cordoned() and read_run(store, e.run_id).run.state == RunState.PAUSED


class Metrics:
    """A Prometheus that answers each query with ``answer``."""

    def __init__(self, answer: list[float] | str, down: dict[str, str] | None = None) -> None:
        self.answer, self.queries, self.down = answer, 0, down

    def values(self, promql: str) -> list[float] | str:
        self.queries += 1
        return self.answer

    def scrape_errors(self) -> dict[str, str] | None:
        return self.down


GATE = {"soak": "10s", "checks": [{"name": "errors", "query": "x", "successCondition": "value < 1", "interval": "5s",
                                   "count": 2, "consecutiveErrorLimit": 1}]}  # fmt: skip


def test_a_passing_gate_lets_the_next_wave_start(store: Store) -> None:
    e = engine(store, 2, metrics=Metrics([0.0]), waves={"sizes": [1]}, gates=GATE)
    assert e.executor().execute() == Outcome.DONE
    waves = read_run(store, e.run_id).waves
    assert [w.gate_state for w in waves] == ["passed", "passed"] and e.metrics.queries == 4


def test_a_gate_without_data_pauses_the_run(store: Store) -> None:
    e = engine(store, 2, metrics=Metrics("connection refused"), waves={"sizes": [1]}, gates=GATE)
    assert e.executor().execute() == Outcome.PAUSED
    view = read_run(store, e.run_id)
    assert view.waves[0].gate_state == "failed" and "gate errors failed" in view.run.message
    assert sum(s.state == StepState.DONE for s in view.steps) == 1


@pytest.mark.parametrize(
    ("down", "why"),
    [
        ({"FIRST": 'Get "http://x/metrics": context deadline exceeded'},
         "kata-monitor on these nodes: 1 answers after scrape_timeout (slow, not gone: FIRST)"),
        ({"FIRST": "connection refused", "elsewhere": "connection refused"},
         "kata-monitor on these nodes: 1 is down (FIRST)"),
        ({}, "every kata-monitor target of these nodes is up: the query matches no series yet"),
        (None, "Prometheus did not say which kata-monitor targets are down"),
    ],
    ids=["slow", "down", "all-up", "cannot-say"],
)  # fmt: skip
def test_a_gate_with_no_data_says_whether_scrapes_are_late_or_targets_gone(
    store: Store, down: dict[str, str] | None, why: str
) -> None:
    first = small_fleet(2).nodes[0].name  # the first wave's node
    named = {k.replace("FIRST", first): v for k, v in down.items()} if down is not None else None
    e = engine(store, 2, metrics=Metrics([], named), waves={"sizes": [1]}, gates=GATE)
    assert e.executor().execute() == Outcome.PAUSED
    message = read_run(store, e.run_id).run.message
    assert "no data (noData: fail)" in message and why.replace("FIRST", first) in message, message


def test_an_interrupted_run_resumes_where_it_stopped_without_installing_twice(store: Store) -> None:
    e = engine(store, 3, waves={"sizes": [3], "maxUnavailable": 1})
    first = e.executor()
    first.flow.interrupt.set()  # SIGTERM before anything started: every node stays at its recorded step
    assert first.execute() == Outcome.INTERRUPTED
    assert read_run(store, e.run_id).run.state == RunState.RUNNING
    assert e.executor().execute() == Outcome.DONE
    assert e.cluster.installs == dict.fromkeys(e.cluster.nodes, 1) and not e.cordoned()
    assert NodeOutcome.DONE == "done"  # the enums are the stored strings


def test_a_rollback_takes_every_changed_node_back_and_says_so(store: Store) -> None:
    e = engine(store, 3)
    before = {n: e.cluster.facts(obj, {}).kata_version for n, obj in e.cluster.nodes.items()}
    assert e.executor().execute() == Outcome.DONE
    assert read_run(store, e.run_id).run.message == "every node upgraded"
    back = Engine(store, e.cluster, e.clock, create_rollback(store, e.run_id), FakeLock())
    assert back.executor().execute() == Outcome.DONE
    assert read_run(store, back.run_id).run.message == "every node rolled back"
    assert {n: e.cluster.facts(obj, {}).kata_version for n, obj in e.cluster.nodes.items()} == before
    assert e.cluster.installs == dict.fromkeys(e.cluster.nodes, 2) and not e.cordoned()


def test_drain_mode_none_cordons_installs_and_leaves_running_pods_alone(store: Store) -> None:
    e = engine(store, 1, drain={"mode": "none"})
    node = next(iter(e.cluster.nodes))
    e.cluster.add_pod("build-1", "ci-builds", node, labels={"app.kubernetes.io/managed-by": "tekton-pipelines"})
    assert e.executor().execute() == Outcome.DONE
    assert e.cluster.installs == {node: 1} and ("ci-builds", "build-1") in e.cluster.pods
    assert e.cluster.calls.count("evict", "build-1") == 0 and e.steps()[node].facts["drain"]["removed"] == 0
    assert not e.cordoned()


def test_a_node_kata_lifecycle_manager_is_upgrading_is_skipped_untouched(store: Store) -> None:
    e = engine(store, 2, waves={"sizes": [2], "maxUnavailable": 2}, failureBudget={"perRun": "100%", "perWave": "100%"})
    busy, other = sorted(e.cluster.nodes)
    e.cluster.nodes[busy]["metadata"]["annotations"]["katacontainers.io/kata-lifecycle-manager-status"] = "draining"
    assert e.executor().execute() == Outcome.DONE
    step = e.steps()[busy]
    assert step.state == StepState.SKIPPED and "kata-lifecycle-manager is upgrading" in step.message
    assert e.cluster.installs == {other: 1} and not e.cordoned() and e.cluster.calls.count("cordon", busy) == 0


def test_a_rolling_update_daemonset_pauses_the_run_before_any_node_is_touched(store: Store) -> None:
    e = engine(store, 2)
    e.cluster.daemonsets[("kube-system", "kata-deploy")]["spec"]["updateStrategy"] = {"type": "RollingUpdate"}
    assert e.executor().execute() == Outcome.PAUSED
    run = read_run(store, e.run_id)
    assert "updateStrategy RollingUpdate" in run.run.message and 'updateStrategy":{"type":"OnDelete' in run.run.message
    assert {s.state for s in run.steps} == {StepState.PENDING} and not e.cordoned()
    assert [c for c in e.cluster.calls.log if c[0] in ("cordon", "set_image", "delete_pod", "trace")] == []


def test_job_mode_installs_each_node_by_its_own_job_and_a_failed_job_fails_the_node(store: Store) -> None:
    e = engine(store, 3, waves={"sizes": [3], "maxUnavailable": 3}, failureBudget={"perRun": "100%", "perWave": "100%"})
    del e.cluster.daemonsets[("kube-system", "kata-deploy")]
    template = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"labels": {"kata-deploy/stage": "install"}},
                "spec": {"backoffLimit": 2, "template": {"spec": {"restartPolicy": "Never", "containers": [
                    {"name": "kube-kata-install", "image": "quay.io/kata-containers/kata-deploy:3.28.0"}]}}}}  # fmt: skip
    e.cluster.config_maps[("kube-system", "kata-deploy-job-templates")] = {
        "data": {"install-job.yaml": yaml.safe_dump(template)}
    }
    failing, *good = sorted(e.cluster.nodes)
    e.cluster.failing_installs.add(failing)
    assert e.executor().execute() == Outcome.DONE
    steps = e.steps()
    assert steps[failing].state == StepState.FAILED
    assert (
        f"install Job kube-system/kata-deploy-install-{failing} failed on {failing}: BackoffLimitExceeded"
        in steps[failing].message
    )
    assert {n: steps[n].state for n in good} == dict.fromkeys(good, StepState.DONE) and not e.cordoned()
    job = e.cluster.jobs[("kube-system", f"kata-deploy-install-{good[0]}")]
    pod = job["spec"]["template"]["spec"]
    assert pod["nodeName"] == good[0] and pod["containers"][0]["image"].endswith(f":{TARGET}")
    assert {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    assert e.cluster.installs == dict.fromkeys(good, 1)
    doc = read_run(store, e.run_id).run.plan["deployments"]
    assert doc == {e.cluster.cluster: {"mechanism": "job"}}


def test_label_mode_sets_the_label_and_a_rollback_sets_the_previous_value(store: Store) -> None:
    e = engine(store, 2, install={"mechanism": "label"}, waves={"sizes": [2], "maxUnavailable": 2})
    before = {n: e.cluster.facts(o, {}).kata_version for n, o in e.cluster.nodes.items()}
    assert e.executor().execute() == Outcome.DONE
    labels = {n: o["metadata"]["labels"].get("fleetctl.io/kata-release") for n, o in e.cluster.nodes.items()}
    assert labels == dict.fromkeys(e.cluster.nodes, TARGET) and e.cluster.installs == dict.fromkeys(e.cluster.nodes, 1)
    assert e.cluster.calls.count("delete_pod") == 0
    e.run_id = create_rollback(store, e.run_id)
    assert e.executor().execute() == Outcome.DONE
    assert {n: o["metadata"]["labels"]["fleetctl.io/kata-release"] for n, o in e.cluster.nodes.items()} == before


def test_a_helm_managed_daemonset_is_recorded_and_the_run_says_how_to_reconcile(store: Store) -> None:
    e = engine(store, 1)
    meta = e.cluster.daemonsets[("kube-system", "kata-deploy")]["metadata"]
    meta["labels"]["app.kubernetes.io/managed-by"] = "Helm"
    meta["annotations"] = {"meta.helm.sh/release-name": "kata", "meta.helm.sh/release-namespace": "kata-system"}
    assert e.executor().execute() == Outcome.DONE
    lines = helm_lines(read_run(store, e.run_id))
    assert len(lines) == 1 and f"helm upgrade kata {HELM_CHART} --version {TARGET} --namespace kata-system" in lines[0]
    assert "--reset-then-reuse-values" in lines[0]


def test_install_helm_refuse_pauses_a_helm_managed_run_untouched(store: Store) -> None:
    e = engine(store, 1, install={"helm": "refuse"})
    e.cluster.daemonsets[("kube-system", "kata-deploy")]["metadata"]["labels"]["app.kubernetes.io/managed-by"] = "Helm"
    assert e.executor().execute() == Outcome.PAUSED
    assert "spec.install.helm is refuse" in read_run(store, e.run_id).run.message and e.cluster.installs == {}


def test_a_cluster_without_kata_deploy_pauses_the_run_and_says_what_to_set(store: Store) -> None:
    e = engine(store, 1)
    del e.cluster.daemonsets[("kube-system", "kata-deploy")]
    assert e.executor().execute() == Outcome.PAUSED
    message = read_run(store, e.run_id).run.message
    assert "no kata-deploy found" in message and "spec.install.mechanism: label" in message and e.cluster.installs == {}


def test_a_gate_failing_on_its_value_pauses_the_run_before_the_next_wave(store: Store) -> None:
    e = engine(store, 2, metrics=Metrics([5.0]), waves={"sizes": [1]}, gates=GATE)
    assert e.executor().execute() == Outcome.PAUSED
    view = read_run(store, e.run_id)
    assert [w.gate_state for w in view.waves] == ["failed", None] and view.waves[0].state == WaveState.FAILED
    assert "gate errors failed: 1 failed measurements (failureLimit 0)" in view.run.message, view.run.message
    assert "5" in view.run.message and "no data" not in view.run.message
    first, second = (view.wave_steps(n)[0].node for n in (1, 2))
    assert e.cluster.installs == {first: 1} and e.steps()[second].state == StepState.PENDING
    assert e.metrics.queries == 1 and not e.cordoned()


def test_a_wave_over_its_budget_with_on_breach_rollback_takes_the_wave_back(store: Store) -> None:
    e = engine(store, 4, waves={"sizes": [2, 2], "maxUnavailable": 1}, drain={"timeout": "30s", "onTimeout": "fail"},
               failureBudget={"perWave": 0, "perRun": "100%", "onBreach": "rollback"})  # fmt: skip
    before = {n: e.cluster.facts(obj, {}).kata_version for n, obj in e.cluster.nodes.items()}
    view = read_run(store, e.run_id)
    (good, bad), later = [s.node for s in view.wave_steps(1)], [s.node for s in view.wave_steps(2)]
    e.cluster.add_pod("app-0", "apps", bad)
    e.cluster.refusals["app-0"] = 10**6  # the wave's second node: its drain times out, before any install
    assert e.executor().execute() == Outcome.ROLLED_BACK
    view = read_run(store, e.run_id)
    assert view.run.state == RunState.ROLLED_BACK and [w.state for w in view.waves] == ["failed", "pending"]
    rollback_id = int(view.run.message.removeprefix("rolled back by run "))
    back = read_run(store, rollback_id)
    assert back.run.kind == "rollback" and back.run.state == RunState.DONE and [s.node for s in back.steps] == [good]
    assert back.run.message == "every node rolled back"
    assert e.steps()[bad].state == StepState.FAILED and "(onTimeout: fail)" in e.steps()[bad].message
    assert e.cluster.installs == {good: 2}  # up, and back: the failed node and wave 2 were never installed
    assert e.cluster.facts(e.cluster.nodes[good], {}).kata_version == before[good]
    assert all(e.cluster.calls.count("cordon", n) == 0 for n in later) and not e.cordoned()


def stop_after_first_install(e: Engine, request: Callable[[], object]) -> list[object]:
    """Make ``request`` when the first node has installed (it is still cordoned, in flight), then
    let a second of fake time pass so the executor reads its controls again; what it saw."""
    seen: list[object] = []
    mark, lock = e.cluster.mark_installed, threading.Lock()

    def requesting(name: str, release: str) -> None:
        mark(name, release)
        with lock:
            if not seen:
                seen.extend([request(), read_run(e.store, e.run_id).run.state, name in e.cordoned()])
                e.clock.sleep(1.0)

    e.cluster.mark_installed = requesting  # type: ignore[method-assign]
    return seen


def test_a_pause_requested_mid_run_lets_the_node_in_flight_finish_and_starts_no_other(store: Store) -> None:
    e = engine(store, 3, waves={"sizes": [3], "maxUnavailable": 1})
    seen = stop_after_first_install(e, lambda: request_pause(store, e.run_id))
    assert e.executor(RunLease(store, [], e.run_id, ttl=timedelta(seconds=30))).execute() == Outcome.PAUSED
    assert seen == [Requested(RunState.PAUSING, live=True), RunState.PAUSING, True]  # in flight, still cordoned
    view = read_run(store, e.run_id)
    assert view.run.state == RunState.PAUSED and view.run.message == "paused by request" and view.run.holder is None
    assert view.waves[0].state == WaveState.PAUSED
    (done,) = e.cluster.installs
    assert {n: s.state for n, s in e.steps().items()} == {n: StepState.DONE if n == done else StepState.PENDING
                                                          for n in e.cluster.nodes}  # fmt: skip
    assert e.cluster.calls.count("cordon") == 1 and not e.cordoned()
    reopen(store, e.run_id)  # resume: the others go, the first is not installed again
    assert e.executor().execute() == Outcome.DONE and e.cluster.installs == dict.fromkeys(e.cluster.nodes, 1)


def test_an_abort_requested_mid_run_finishes_the_nodes_in_flight_and_uncordons_them(store: Store) -> None:
    e = engine(store, 4, waves={"sizes": [4], "maxUnavailable": 2})
    seen = stop_after_first_install(e, lambda: request_abort(store, e.run_id))
    assert e.executor(RunLease(store, [], e.run_id, ttl=timedelta(seconds=30))).execute() == Outcome.ABORTED
    assert seen == [Requested(RunState.ABORTING, live=True), RunState.ABORTING, True]
    view = read_run(store, e.run_id)
    assert view.run.state == RunState.ABORTED and view.run.message == "aborted; nodes in flight finished"
    states = {n: s.state for n, s in e.steps().items()}
    in_flight = sorted(e.cluster.installs)  # the two that had started: both finished
    assert len(in_flight) == 2 and e.cluster.installs == dict.fromkeys(in_flight, 1)
    assert states == {n: StepState.DONE if n in in_flight else StepState.PENDING for n in e.cluster.nodes}
    assert e.cluster.calls.count("cordon") == 2 and not e.cordoned()
    assert e.executor().execute() == Outcome.ABORTED and e.cluster.calls.count("cordon") == 2  # it stays ended


def test_a_lost_lease_stops_the_executor_and_leaves_the_run_resumable(store: Store) -> None:
    e = engine(store, 3, waves={"sizes": [3], "maxUnavailable": 1})
    lost, thief = threading.Event(), "elsewhere/1/other"

    def progress(line: str) -> None:
        if "lost the run's lease" in line:
            lost.set()

    def steal() -> None:  # another executor takes the store's lock; ours finds out at its next renewal
        assert claim_run(store, e.run_id, thief, timedelta(seconds=30), holder_alive=lambda _h: False) is None
        e.clock.sleep(30.0)  # past the renewal interval (a third of lease_ttl)
        assert lost.wait(timeout=60), "the executor did not notice"

    stop_after_first_install(e, steal)
    lease = RunLease(store, [], e.run_id, ttl=timedelta(seconds=30))
    assert e.executor(lease, progress=progress, lease_ttl=timedelta(seconds=30)).execute() == Outcome.PAUSED
    view = read_run(store, e.run_id)
    assert view.run.state == RunState.PAUSED and "another executor took the run's lease" in view.run.message
    assert view.run.holder == thief  # its release gave back nothing that was no longer its own
    (done,) = e.cluster.installs  # the node in flight finished; no other started
    assert e.steps()[done].state == StepState.DONE and not e.cordoned()
    assert sum(s.state == StepState.PENDING for s in view.steps) == 2
    release_run(store, e.run_id, thief)
    reopen(store, e.run_id)
    again = RunLease(store, [], e.run_id, ttl=timedelta(seconds=30))
    assert e.executor(again).execute() == Outcome.DONE and e.cluster.installs == dict.fromkeys(e.cluster.nodes, 1)


def test_a_second_executor_is_refused_while_one_holds_the_run(store: Store) -> None:
    e = engine(store, 2, waves={"sizes": [2], "maxUnavailable": 1})

    def second() -> object:
        try:
            e.executor(RunLease(store, [], e.run_id, ttl=timedelta(seconds=30))).execute()
        except RunLockedError as exc:
            return str(exc)
        return "not refused"

    seen = stop_after_first_install(e, second)
    assert e.executor(RunLease(store, [], e.run_id, ttl=timedelta(seconds=30))).execute() == Outcome.DONE
    assert f"run {e.run_id} is being executed by" in str(seen[0]) and seen[1] == RunState.RUNNING
    assert e.cluster.installs == dict.fromkeys(e.cluster.nodes, 1) and e.cluster.calls.count("cordon") == 2
    assert read_run(store, e.run_id).run.holder is None and not e.cordoned()


def test_a_run_waits_outside_its_window_and_starts_nodes_only_inside_it(store: Store) -> None:
    window = Window("0 22 * * *", 60.0)  # a minute a day: one 2-minute install fits in each opening
    clock = FakeClock(wall=datetime(2026, 11, 26, 21, 59, tzinfo=UTC))
    e = engine(store, 3, clock=clock, waves={"sizes": [3], "maxUnavailable": 1},
               window={"schedule": window.schedule, "duration": "1m", "timezone": "UTC"})  # fmt: skip
    e.cluster.install_seconds = dict.fromkeys(e.cluster.install_seconds, 120.0)
    assert e.executor().execute() == Outcome.PAUSED  # 21:59: shut
    assert read_run(store, e.run_id).run.message == WINDOW_CLOSED
    assert {s.state for s in e.steps().values()} == {StepState.PENDING} and e.cluster.calls.count("cordon") == 0
    started: list[datetime] = []
    cordon = e.cluster.cordon

    def when(name: str, seen: Any = None, *, next_step: Step = Step.DRAIN) -> bool:
        started.append(clock.now())
        return cordon(name, seen, next_step=next_step)

    e.cluster.cordon = when  # type: ignore[method-assign]
    for day in range(3):
        opening = next_opening(window, clock.now())
        assert opening is not None and opening == datetime(2026, 11, 26 + day, 22, tzinfo=UTC)
        clock.sleep((opening - clock.now()).total_seconds())
        reopen(store, e.run_id)  # what a schedule does at the opening
        outcome = e.executor().execute()
        assert len(e.cluster.installs) == day + 1 and not e.cordoned()
        assert outcome == (Outcome.DONE if day == 2 else Outcome.PAUSED)
        assert read_run(store, e.run_id).run.message == ("every node upgraded" if day == 2 else WINDOW_CLOSED)
    assert [(t.day, t.hour, t.minute) for t in started] == [(26 + d, 22, 0) for d in range(3)]
