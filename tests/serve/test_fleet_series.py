"""The fleet series on ``/metrics``, from a store on SQLite and PostgreSQL: values, bounded labels,
``[metrics] per_node = false``, and one store read per collection interval however often it is scraped."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from collectors.inventory.resolve import DriftKind, Signals, drift_kind, resolve
from collectors.releases.catalog import ensure_catalog
from fleetctl.serve.fleetseries import FleetCollector
from store.checks import CheckResult, Status
from store.engine import Store
from store.facts import NodeFacts
from store.health import record_checks
from store.runs import DraftNode, create_run, read_run, set_run, set_step, set_wave
from store.snapshots import record_snapshot
from store.states import GateState, RunState, Step, StepState, WaveState

LABEL_VALUE = re.compile(r'="([^"]*)"')


def _facts(name: str, **facts: object) -> NodeFacts:
    base: dict[str, object] = {
        "name": name, "uid": f"uid-{name}", "arch": "amd64", "zone": "eu-1", "ready": True, "kata_version": "3.28.0",
        "guest_kernel": "6.12.47-165", "hypervisor": "qemu", "host_kernel": "6.8.0-45",
        "runtime_handlers": ("kata-qemu",), "custom_kernel": False,
    }  # fmt: skip
    return NodeFacts(**{**base, **facts})  # type: ignore[arg-type]


def _fill(store: Store) -> int:
    at = datetime.now(UTC)
    ensure_catalog(store)
    with store.write() as session:
        record_snapshot(
            session, "prod-eu",
            [
                _facts("eu-1", unschedulable=True),  # cordoned by the run (below)
                _facts("eu-2", arch="s390x", kata_version="4.1.0", runtime_handlers=("kata-qemu-runtime-rs",),
                       custom_kernel=True, drift=("no kata-deploy pod on the node", "handler kata-clh missing",
                                                  "handler kata-fc missing")),
                _facts("eu-3", kata_version=None, guest_kernel=None, hypervisor=None, runtime_handlers=(),
                       custom_kernel=None, drift=("no reporter data",)),
            ],
            at=at,
        )  # fmt: skip
        record_snapshot(session, "prod-us", [_facts("us-1", kata_version="4.1.0")], at=at)
        record_checks(
            session, "prod-eu",
            {"eu-1": [CheckResult("KATA001", Status.OK, "up"), CheckResult("K8S001", Status.OK, "ready")],
             "eu-2": [CheckResult("KATA001", Status.CRIT, "down", 0.0, "fix it")],
             "eu-3": [CheckResult("KATA001", Status.UNKNOWN, "no data")]},
            at=at,
        )  # fmt: skip
    run = create_run(
        store, name="roll-4.1", target="4.1.0", plan={"runBudget": 2},
        waves=[[DraftNode("prod-eu", "eu-1", "3.28.0", "4.1.0", {})], [DraftNode("prod-eu", "eu-2", "4.1.0", "4.1.0", {})]],
    )  # fmt: skip
    set_run(store, run, state=RunState.PAUSED, started_at=at)
    set_wave(
        store, run, 1, state=WaveState.DONE, started_at=at, gate_state=GateState.FAILED,
        gate_results=[{"name": "errors", "state": "failed"}, {"name": "latency", "state": "passed"}],
    )  # fmt: skip
    return run


def _scrape(collector: FleetCollector) -> dict[str, list[tuple[dict[str, str], float]]]:
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


def _one(series: list[tuple[dict[str, str], float]], **labels: str) -> float:
    found = [v for have, v in series if all(have.get(k) == w for k, w in labels.items())]
    assert len(found) == 1, (labels, series)
    return found[0]


def test_the_fleet_series_say_what_the_store_says(store: Store) -> None:
    run = _fill(store)
    step_id = next(step.id for step in read_run(store, run).steps if step.node == "eu-1")
    set_step(store, step_id, step=Step.UNCORDON, state=StepState.RUNNING, cordoned_by_us=True)
    failed_id = next(step.id for step in read_run(store, run).steps if step.node == "eu-2")
    set_step(
        store, failed_id, step=Step.INSTALL, state=StepState.FAILED, cordoned_by_us=True
    )  # uncordoned as it failed
    s = _scrape(FleetCollector(store, per_node=True, cache_s=30))

    info = s["fleetctl_node_info"]
    assert len(info) == 4
    assert _one(info, node="eu-2", arch="s390x", kata_release="4.1.0", runtime_rs="true", zone="eu-1") == 1
    assert _one(info, node="eu-1", runtime_rs="false", hypervisor="qemu", host_kernel="6.8.0-45") == 1
    assert _one(info, node="eu-3", kata_release="unknown", guest_kernel="unknown", runtime_rs="unknown") == 1
    assert sorted(lb["reason"] for lb, _ in s["fleetctl_node_drift"] if lb["node"] == "eu-2") == [
        "handler_missing", "no_deploy_pod",
    ]  # two missing handlers are one kind  # fmt: skip
    assert _one(s["fleetctl_node_drift"], node="eu-3") == 1
    assert _one(s["fleetctl_node_custom_kernel"], node="eu-2") == 1
    assert _one(s["fleetctl_node_custom_kernel"], node="eu-1") == 0
    assert not [lb for lb, _ in s["fleetctl_node_custom_kernel"] if lb["node"] == "eu-3"]  # unknown: absent
    status = s["fleetctl_node_check_status"]
    assert _one(status, node="eu-2", code="KATA001", severity="crit") == 3
    assert _one(status, node="eu-3", code="KATA001", severity="unknown") == 1
    assert not [lb for lb, _ in status if lb["node"] == "eu-1"]  # ok checks are only counted

    assert _one(s["fleetctl_release_nodes"], cluster="prod-eu", release="3.28.0", arch="amd64") == 1
    assert _one(s["fleetctl_release_nodes"], cluster="prod-eu", release="unknown", arch="amd64") == 1
    assert _one(s["fleetctl_release_nodes"], cluster="prod-us", release="4.1.0", arch="amd64") == 1
    assert _one(s["fleetctl_nodes_drifted"], cluster="prod-eu") == 2
    assert _one(s["fleetctl_nodes_drifted"], cluster="prod-us") == 0
    assert _one(s["fleetctl_checks"], cluster="prod-eu", code="KATA001", severity="ok") == 1
    behind_eu = _one(s["fleetctl_release_behind_latest"], cluster="prod-eu")
    behind_us = _one(s["fleetctl_release_behind_latest"], cluster="prod-us")
    assert behind_eu > behind_us >= 0  # 3.28.0 is further behind the newest release than 4.1.0
    assert _one(s["fleetctl_collection_last_success_timestamp_seconds"], cluster="prod-eu") > 1.7e9
    assert _one(s["fleetctl_collection_interval_seconds"]) == 30

    assert _one(s["fleetctl_upgrade_run_info"], run=str(run), plan="roll-4.1", target="4.1.0", state="paused") == 1
    assert _one(s["fleetctl_upgrade_nodes"], run=str(run), state="running") == 1
    assert _one(s["fleetctl_upgrade_nodes"], run=str(run), state="failed") == 1
    assert _one(s["fleetctl_upgrade_current_wave"], run=str(run)) == 1
    assert _one(s["fleetctl_upgrade_gate_result"], run=str(run), wave="1", gate="errors") == 2
    assert _one(s["fleetctl_upgrade_gate_result"], run=str(run), wave="1", gate="latency") == 1
    assert _one(s["fleetctl_upgrade_gate"], run=str(run), wave="1", result="failed") == 1
    assert _one(s["fleetctl_upgrade_failures_total"], run=str(run)) == 1
    assert _one(s["fleetctl_upgrade_failure_budget"], run=str(run)) == 2
    assert _one(s["fleetctl_upgrade_cordoned_nodes"], run=str(run)) == 1
    assert _one(s["fleetctl_upgrade_node_state"], run=str(run), node="eu-1", step="uncordon", state="running") == 1

    values = {v for series in s.values() for labels, _ in series for v in labels.values()}
    assert "" not in values and not [v for v in values if len(v) > 64 or " " in v], values


def test_stale_sandboxes_are_a_per_node_series_absent_when_unknown(store: Store) -> None:
    with store.write() as session:
        record_snapshot(
            session, "prod-eu",
            [_facts("eu-1", stale_sandboxes=2), _facts("eu-2", stale_sandboxes=0), _facts("eu-3")],
            at=datetime.now(UTC),
        )  # fmt: skip
    stale = _scrape(FleetCollector(store, per_node=True, cache_s=30))["fleetctl_node_stale_sandboxes"]
    assert _one(stale, cluster="prod-eu", node="eu-1") == 2
    assert _one(stale, cluster="prod-eu", node="eu-2") == 0
    assert not [labels for labels, _ in stale if labels["node"] == "eu-3"]  # unknown: absent, never 0
    assert "fleetctl_node_stale_sandboxes" not in _scrape(FleetCollector(store, per_node=False, cache_s=30))


def test_per_node_off_keeps_the_aggregates_only(store: Store) -> None:
    _fill(store)
    s = _scrape(FleetCollector(store, per_node=False, cache_s=30))
    assert not {"fleetctl_node_info", "fleetctl_node_drift", "fleetctl_node_check_status"} & set(s)
    assert "fleetctl_upgrade_node_state" not in s
    assert _one(s["fleetctl_release_nodes"], cluster="prod-us", release="4.1.0", arch="amd64") == 1
    assert _one(s["fleetctl_checks"], cluster="prod-eu", code="KATA001", severity="crit") == 1


def test_scrapes_within_a_collection_interval_read_the_store_once(store: Store) -> None:
    _fill(store)
    now = [0.0]
    collector = FleetCollector(store, per_node=True, cache_s=30, clock=lambda: now[0])
    for at in (0.0, 10.0, 29.9):
        now[0] = at
        _scrape(collector)
    assert collector.reads == 1
    now[0] = 30.0
    _scrape(collector)
    assert collector.reads == 2


def test_every_drift_text_resolve_writes_has_a_kind() -> None:
    signals = Signals(arch="amd64", env_version="3.28.0", version_file="3.27.0", deploy_version="nonsense",
                      deploy_state="CrashLoopBackOff", label="false", handlers=())  # fmt: skip
    texts = list(resolve(signals).drift)
    texts += resolve(Signals("amd64", None, None, "3.28.0", None, None, ())).drift
    texts += resolve(Signals("amd64", "3.28.0", None, "3.27.0", "Running", "true", ())).drift
    kinds = {drift_kind(t) for t in texts}
    assert DriftKind.OTHER not in kinds, texts
    assert kinds == set(DriftKind) - {DriftKind.OTHER}, (sorted(kinds), texts)


def test_a_node_counts_as_cordoned_by_the_newest_run_that_cordoned_it_until_its_uncordon_ends() -> None:
    from fleetctl.serve.fleetseries import cordons_held

    # (run, node, step) rows of nodes a run cordoned that are unschedulable now
    assert cordons_held([(1, 10, Step.DRAIN), (1, 11, Step.UNCORDON), (1, 12, Step.INSTALL)]) == {1: 3}
    assert cordons_held([(1, 10, Step.DONE)]) == {}  # uncordoned by the run: the cordon now is someone else's
    assert cordons_held([(1, 10, Step.INSTALL), (2, 10, Step.DRAIN)]) == {2: 1}  # the newer run's cordon
    assert cordons_held([(1, 10, Step.INSTALL), (2, 10, Step.DONE)]) == {}
