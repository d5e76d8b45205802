"""The monitoring bundle against real components: Debian's Prometheus scrapes ``fleetctl serve``
(over a collected simulated fleet with a rollout paused at its gate) and the simulated
kata-monitors; every panel query of the dashboard returns data, the rules evaluate without
error, the paused-rollout alert is raised, and ``/metrics`` holds no secret and no unbounded label."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simulator.server import Simulator
from tests.support.monitoring import Monitored, dashboard_queries, monitored_fleet
from tests.support.prometheus import instant
from tests.support.sim import wait_for


@pytest.fixture
def monitored(fresh_sim: Simulator, tmp_path: Path) -> Iterator[Monitored]:
    with monitored_fleet(fresh_sim, tmp_path) as m:
        yield m


def test_every_dashboard_panel_has_data_and_the_rules_run(monitored: Monitored) -> None:
    fleet, serve, prom, run = monitored.fleet, monitored.serve, monitored.prometheus, monitored.run

    empty = [(title, expr) for title, expr in dashboard_queries(run) if not instant(prom, expr)]
    assert not empty, "panels without data:\n" + "\n".join(f"  {t}: {e}" for t, e in empty)

    def paused_alert() -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{prom}/api/v1/rules", timeout=10) as response:
            groups = json.loads(response.read())["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        assert rules and all(r["health"] == "ok" for r in rules if r.get("lastEvaluation")), [
            (r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"
        ]
        return [a for r in rules if r["name"] == "FleetctlRolloutPausedAtGate" for a in r.get("alerts", [])]

    alerts = wait_for(paused_alert, what="the paused-at-gate alert to be pending")
    assert alerts[0]["labels"]["run"] == str(run) and alerts[0]["state"] in ("pending", "firing")

    status, text = serve.get("/metrics")
    assert status == 200
    assert fleet.sim.token not in text and "BEGIN" not in text and "Bearer" not in text
    values = set(re.findall(r'="([^"]*)"', text))
    assert not [v for v in values if " " in v or len(v) > 80], "unbounded label values on /metrics"
    assert not [v for v in values if v.startswith("kata-deploy-")], "pod names on /metrics"


def test_the_dashboard_is_well_formed() -> None:
    """Every panel has a description, the datasource variable and a place of its own; every
    target an expr that promtool parses, over documented fleetctl series and simulated kata-monitor
    families (scripts/check-dashboard.py)."""
    script = Path(__file__).resolve().parents[2] / "scripts" / "check-dashboard.py"
    result = subprocess.run([sys.executable, str(script), "--promtool"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "0 problems" in result.stdout, result.stdout[-2000:]
