"""The guided demo scenario, headless: roll out the newest release, meet an s390x regression at a
gate, and roll back. It narrates each step and checks the outcome against the simulator.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from clients.prom import PromConfig
from collectors.inventory.collector import RetryPolicy, collect_cluster
from collectors.releases.catalog import kernel_pins
from fleetctl.services import execute_run, make_executor_options, needs_prometheus, open_clients
from simulator import Simulator
from store.engine import Store
from store.runs import read_run
from store.states import GateState, StepState
from upgrades.launch import create_rollback, create_run_from_plan, plan_from_store
from upgrades.planfile import parse_plan

GATE = "scrape-failures"


@dataclass
class ScenarioResult:
    """What the scenario saw: the gate that stopped the rollout and whether the rollback finished."""

    gate: str | None
    wave: int | None
    first_s390x: int | None
    message: str
    rolled_back: int
    restored: bool

    @property
    def as_designed(self) -> bool:
        """The gate stopped the rollout at the first wave with s390x nodes, and the rollback
        brought every node back."""
        return self.gate is not None and self.wave == self.first_s390x and self.restored

    def summary(self) -> str:
        """One line that agrees with what happened."""
        back = f"{self.rolled_back} nodes rolled back" + ("" if self.restored else ", but NOT every node is back")
        if self.gate is None:
            return f"Summary: no gate stopped the rollout; {back}."
        where = (
            "the first wave with s390x nodes"
            if self.wave == self.first_s390x
            else f"not the first wave with s390x nodes (wave {self.first_s390x}): {self.message}"
        )
        return f"Summary: the gate '{self.gate}' stopped the rollout at wave {self.wave}, {where}; {back}."


def gate(scrape_s: float, nodes: str = "{{nodes}}") -> dict[str, Any]:
    """The demo's gate on kata-monitor's scrape failures. Its rate window holds four scrapes and
    its soak two, at the demo Prometheus' scrape interval ``scrape_s``."""
    window = max(15, math.ceil(4 * scrape_s))
    return {
        "soak": f"{max(5, math.ceil(2 * scrape_s))}s",
        "checks": [
            {
                "name": GATE,
                "query": f'max(rate(kata_monitor_scrape_failed_count{{node=~"{nodes}"}}[{window}s]))',
                "successCondition": "value < 0.1",
                "interval": "2s",
                "count": 2,
            }
        ],
    }


def plan_document(target: str, nodes: list[str], *, scrape_s: float | None) -> dict[str, Any]:
    """A rollout of a few nodes per arch, amd64 first and s390x last, with one Prometheus gate
    (none without Prometheus: ``scrape_s`` None)."""
    gates: dict[str, Any] = {"enabled": False} if scrape_s is None else gate(scrape_s)
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
    sim: Simulator,
    store: Store,
    prometheus: str | None,
    say: Callable[[str], None],
    *,
    scrape_s: float = 1.0,
    per_arch: int = 4,
) -> ScenarioResult:
    """Collect, plan, roll out into a regression, stop at the gate, roll back; narrate as it goes."""
    client = open_clients(sim.kubeconfig)[0]
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
    spec = parse_plan(
        plan_document(target, chosen, scrape_s=scrape_s if prometheus is not None else None), where="demo plan"
    )
    plan = plan_from_store(store, spec)
    say(f"   {len(plan.waves)} waves: " + "; ".join(", ".join(c.name for c in w) for w in plan.waves))
    sim.add_health_regression(target, "s390x")
    say(f"2. Injected: Kata {target} makes s390x VMs fail their kata-monitor scrapes (a regression upstream).")
    if prometheus is None:
        say("   Prometheus is not installed: VM health and gates are unknown, so nothing will stop the rollout.")
    run_id = create_run_from_plan(store, plan)
    options = make_executor_options(
        PromConfig(url=prometheus) if prometheus else None,
        need_prometheus=needs_prometheus(store, run_id),
        poll_s=0.1,
        lease_ttl=timedelta(seconds=10),
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
    elif stopped is not None:
        say(
            f"   That is NOT the first wave with s390x nodes (wave {first_s390x}): the gate stopped it for another reason."
        )
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
    return ScenarioResult(
        gate=GATE if stopped is not None else None,
        wave=stopped.number if stopped else None,
        first_s390x=first_s390x,
        message=stopped.gate_message if stopped else "",
        rolled_back=rolled,
        restored=restored,
    )


def wait_until_scraped(url: str, targets: int, scrape_s: float, say: Callable[[str], None]) -> int:
    """Wait until Prometheus has two good scrapes of every kata-monitor target (what rate() and
    the VM health checks need), saying how many it has as they come; how many it got.

    The wait ends on the condition. Its deadline (40 scrape intervals, at least 2 minutes) is a
    safety net: when it fires, this says so, and the demo goes on with the targets it has.
    """
    from clients.prom import PromSource

    source = PromSource(PromConfig(url=url, timeout_s=max(5.0, scrape_s)), "1m")
    window = math.ceil(3 * scrape_s) + 1
    query = f"count((count_over_time(up[{window}s]) >= 2) and (min_over_time(up[{window}s]) == 1))"
    limit = max(120.0, 40 * scrape_s)
    deadline, shown, good = time.monotonic() + limit, -1, 0
    while True:
        values = source.values(query)
        good = int(values[0]) if isinstance(values, list) and values else 0
        if good != shown:
            say(f"waiting for Prometheus (every {scrape_s:g}s): {good}/{targets} targets have two good scrapes")
            shown = good
        if good >= targets:
            return good
        if time.monotonic() > deadline:
            say(
                f"safety net: after {limit:.0f}s only {good}/{targets} targets have two good scrapes; "
                "the others show VM health unknown until Prometheus has them (is the machine overloaded?)"
            )
            return good
        time.sleep(min(1.0, scrape_s / 2))


def scrape_targets(path: Path) -> int:
    """How many kata-monitor targets a file_sd file lists."""
    import json

    try:
        groups = json.loads(path.read_text())
    except (OSError, ValueError):
        return 0
    return sum(len(g.get("targets", [])) for g in groups if isinstance(g, dict))


def _newest_catalog_release(store: Store) -> str:
    """The newest catalog release the simulated fleet can install (the catalog may list newer ones)."""
    from collectors.releases.catalog import ensure_catalog
    from simulator import RELEASES
    from store.releases import list_releases

    ensure_catalog(store)
    with store.read() as session:
        releases = list_releases(session)
    return next(r.version for r in releases if r.version in RELEASES)
