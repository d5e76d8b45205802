"""The guided demo scenario, headless: roll out the newest release, meet an s390x regression at a
gate, and roll back. It narrates each step and checks the outcome against the simulator.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from collectors.health.prom import PromConfig
from collectors.inventory.collector import RetryPolicy, collect_cluster
from collectors.kube.client import KubeClient
from collectors.kube.config import open_contexts
from collectors.releases.catalog import kernel_pins
from fleetctl.services import execute_run
from simulator import Simulator
from store.engine import Store
from store.runs import read_run
from store.states import GateState, StepState
from upgrades.executor import ExecutorOptions
from upgrades.launch import create_rollback, create_run_from_plan, plan_from_store
from upgrades.planfile import parse_plan

GATE = "scrape-failures"


@dataclass
class Outcome:
    """What the scenario saw: the gate that stopped the rollout and whether the rollback finished."""

    gate: str | None
    wave: int | None
    rolled_back: int
    restored: bool


def plan_document(target: str, nodes: list[str], *, gated: bool) -> dict[str, Any]:
    """A rollout of a few nodes per arch, amd64 first and s390x last, with one Prometheus gate."""
    gates: dict[str, Any] = {"enabled": False}
    if gated:
        gates = {
            "soak": "5s",
            "checks": [
                {
                    "name": GATE,
                    "query": 'max(rate(kata_monitor_scrape_failed_count{node=~"{{nodes}}"}[15s]))',
                    "successCondition": "value < 0.1",
                    "interval": "1s",
                    "count": 2,
                }
            ],
        }
    return {
        "apiVersion": "fleetctl.io/v1",
        "kind": "UpgradePlan",
        "metadata": {"name": "demo-rollout"},
        "spec": {
            "target": target,
            "selector": {"where": "name in (" + ", ".join(nodes) + ")"},
            "waves": {"sizes": [2, 4], "order": "arch-zone", "maxUnavailable": 4},
            "drain": {"timeout": "60s", "onTimeout": "skip"},
            "gates": gates,
            "failureBudget": {"perWave": 1, "perRun": 2},
        },
    }


def run_scenario(
    sim: Simulator, store: Store, prometheus: str | None, say: Callable[[str], None], *, per_arch: int = 4
) -> Outcome:
    """Collect, plan, roll out into a regression, stop at the gate, roll back; narrate as it goes."""
    client = KubeClient(open_contexts(sim.kubeconfig)[0])
    collect_cluster(client, store, kernel_pins(store), retry=RetryPolicy(base=0.05))
    truth = sim.truth()
    target = _newest_catalog_release(store)
    chosen = [
        n
        for arch in ("amd64", "ppc64le", "s390x")
        for n in sorted(n for n, t in truth.items() if t["arch"] == arch and t["installed"] != target)[:per_arch]
    ]
    before = {n: truth[n]["installed"] for n in chosen}
    say(
        f"1. The fleet: {len(truth)} nodes. The plan rolls {len(chosen)} of them (amd64, then ppc64le, then s390x) to Kata {target}."
    )
    spec = parse_plan(plan_document(target, chosen, gated=prometheus is not None), where="demo plan")
    plan = plan_from_store(store, spec)
    say(f"   {len(plan.waves)} waves: " + "; ".join(", ".join(c.name for c in w) for w in plan.waves))
    if prometheus is not None:
        say("   Waiting for Prometheus to have two scrapes of every node (rate() needs them)...")
        _wait_for_data(prometheus, chosen)
    sim.add_health_regression(target, "s390x")
    say(f"2. Injected: Kata {target} makes s390x VMs fail their kata-monitor scrapes (a regression upstream).")
    if prometheus is None:
        say("   Prometheus is not installed: VM health and gates are unknown, so nothing will stop the rollout.")
    run_id = create_run_from_plan(store, plan)
    options = ExecutorOptions(
        poll_s=0.1,
        lease_ttl=timedelta(seconds=10),
        prometheus=PromConfig(url=prometheus) if prometheus else None,
        actor="fleetctl-demo",
        progress=lambda message: say("   " + message),
    )
    say(f"3. Rolling out (run {run_id}), wave by wave, each behind the gate '{GATE}'...")
    state = execute_run(store, None, run_id, options, {client.name: client})
    view = read_run(store, run_id)
    stopped = next((w for w in view.waves if w.gate_state == GateState.FAILED), None)
    if stopped is not None:
        say(f"4. The run {state} at wave {stopped.number}: {stopped.gate_message}")
    else:
        say(f"4. The run ended {state}; no gate stopped it.")
    first_s390x = next((i for i, w in enumerate(plan.waves, start=1) if any(c.arch == "s390x" for c in w)), None)
    if stopped is not None and stopped.number == first_s390x:
        say("   That is the first wave with s390x nodes: the earlier waves' gates passed.")
    rollback_id = create_rollback(store, run_id)
    say(f"5. Rolling back (run {rollback_id}): the changed nodes go back to their previous release...")
    execute_run(store, None, rollback_id, options, {client.name: client})
    rolled = sum(1 for s in read_run(store, rollback_id).steps if s.state == StepState.DONE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(sim.truth()[n]["installed"] != v for n, v in before.items()):
        time.sleep(0.2)
    restored = all(sim.truth()[n]["installed"] == v for n, v in before.items())
    say(
        f"6. Rolled back {rolled} nodes; the simulator {'confirms every node is back' if restored else 'shows nodes NOT back'}."
    )
    at_s390x = stopped is not None and stopped.number == first_s390x
    return Outcome(GATE if at_s390x else None, stopped.number if stopped else None, rolled, restored)


def _wait_for_data(url: str, nodes: list[str], timeout: float = 60.0) -> None:
    """Until the gate's query has a value for every chosen node."""
    from collectors.health.prom import PromSource

    source = PromSource(PromConfig(url=url), "15s")
    names = "|".join(nodes)
    query = f'count(rate(kata_monitor_scrape_failed_count{{node=~"{names}"}}[15s]))'
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        values = source.values(query)
        if isinstance(values, list) and values and values[0] >= len(nodes) * 0.9:
            return
        time.sleep(0.5)


def _newest_catalog_release(store: Store) -> str:
    from collectors.releases.catalog import ensure_catalog
    from store.releases import list_releases

    ensure_catalog(store)
    with store.read() as session:
        releases = list_releases(session)
    return releases[0].version
