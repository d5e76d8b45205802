"""The monitoring bundle against real components: Debian's Prometheus scrapes ``fleetctl serve``
(over a collected simulated fleet with a rollout paused at its gate) and the simulated
kata-monitors, with serve's health checks reading that Prometheus; every panel query of the
dashboard returns data (with every cluster and arch, and with one of each), every variable's query
returns values, the rules evaluate without error, the paused-rollout and blind-spot alerts are
raised. No secret and no unbounded label on ``/metrics``: test_monitoring_secrets.py."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulator.server import Simulator
from tests.support.monitoring import Monitored, dashboard_queries, monitored_fleet, variable_queries
from tests.support.prometheus import instant
from tests.support.sim import wait_for


@pytest.fixture
def monitored(fresh_sim: Simulator, tmp_path: Path) -> Iterator[Monitored]:
    with monitored_fleet(fresh_sim, tmp_path) as m:
        yield m


def test_every_dashboard_panel_has_data_and_the_rules_run(monitored: Monitored) -> None:
    fleet, prom, run = monitored.fleet, monitored.prometheus, monitored.run

    values = {}
    for name, selector, label in variable_queries(run):
        found = {series["metric"].get(label) for series in instant(prom, selector)} - {None}
        assert found, f"variable {name}: label_values({selector}, {label}) returns no value"
        values[name] = sorted(found)
    assert str(run) in values["run"]
    # serve's health checks read this Prometheus: the VM checks are measured, not unknown
    measured = instant(prom, 'max by (code) (fleetctl_checks{code=~"KATA00[1-5]", severity="ok"}) > 0')
    assert {s["metric"]["code"] for s in measured} == {f"KATA00{i}" for i in range(1, 6)}, measured

    empty = [(title, expr) for title, expr in dashboard_queries(run) if not instant(prom, expr)]
    assert not empty, "panels without data:\n" + "\n".join(f"  {t}: {e}" for t, e in empty)
    # one cluster and one arch, as a user picks them: the arch of the blind, stale and drifted nodes
    blind_arch = fleet.sim.world.truth()[monitored.blind]["arch"]
    assert blind_arch in values["arch"]
    one = dashboard_queries(run, cluster=values["cluster"][0], arch=blind_arch)
    empty = [(title, expr) for title, expr in one if not instant(prom, expr)]
    assert not empty, f"panels without data for one cluster and arch {blind_arch}:\n" + "\n".join(
        f"  {t}: {e}" for t, e in empty
    )

    def alerts(name: str) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{prom}/api/v1/rules", timeout=10) as response:
            groups = json.loads(response.read())["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        assert rules and all(r["health"] == "ok" for r in rules if r.get("lastEvaluation")), [
            (r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"
        ]
        return [a for r in rules if r["name"] == name for a in r.get("alerts", [])]

    paused = wait_for(lambda: alerts("FleetctlRolloutPausedAtGate"), what="the paused-at-gate alert to be pending")
    assert paused[0]["labels"]["run"] == str(run) and paused[0]["state"] in ("pending", "firing")
    blind = wait_for(lambda: alerts("FleetctlKataMonitorBlindSpot"), what="the blind-spot alert to be pending")
    assert monitored.blind in {a["labels"]["node"] for a in blind}, blind


def test_the_dashboard_is_well_formed() -> None:
    """Every panel has a description, the datasource variable and a place of its own; every
    target an expr that promtool parses, over documented fleetctl series and simulated kata-monitor
    families (scripts/check-dashboard.py)."""
    script = Path(__file__).resolve().parents[2] / "scripts" / "check-dashboard.py"
    result = subprocess.run([sys.executable, str(script), "--promtool"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "0 problems" in result.stdout, result.stdout[-2000:]
