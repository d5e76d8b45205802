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
from tests.support.fleet import Fleet
from tests.support.prometheus import instant, prometheus_server
from tests.support.serve import Serve
from tests.support.sim import kubectl, wait_for

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
FAILING_GATE = {
    "soak": "0s",
    "checks": [{"name": "always-fails", "query": "vector(1)", "successCondition": "value < 0.5", "interval": "1s"}],
}


def dashboard_queries(run: int) -> list[tuple[str, str]]:
    """(panel title, expr) of every target, with the template variables as a user would pick them."""
    board = json.loads((MONITORING / "fleetctl-dashboard.json").read_text())
    out = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace('"$cluster"', '".*"').replace('"$arch"', '".*"')
            out.append((panel["title"], expr.replace("$run", str(run))))
    return out


@pytest.fixture
def monitored(fresh_sim: Simulator, tmp_path: Path) -> Iterator[tuple[Fleet, Serve, str, int]]:
    drifted = sorted(fresh_sim.world.nodes)[-1]  # a node whose kata label says otherwise: drift to chart
    labelled = kubectl(fresh_sim, "label", "node", drifted, "katacontainers.io/kata-runtime=cleanup", "--overwrite")
    assert labelled.returncode == 0, labelled.stderr
    fleet = Fleet(fresh_sim, tmp_path)
    serve = Serve(fleet, "serve")  # its port is known before it answers; Prometheus retries the scrape
    try:
        with prometheus_server(
            fresh_sim.targets,
            static_jobs={"fleetctl": [f"127.0.0.1:{serve.port}"]},
            rule_files=[MONITORING / "fleetctl-rules.yaml"],
        ) as prom:
            fleet.prometheus = prom
            wait_for(lambda: instant(prom, 'up{job="kata-monitor"} == 1'), what="a kata-monitor scrape")
            plan = fleet.plan_file("paused", waves={"sizes": [2]}, gates=FAILING_GATE)
            applied = fleet.apply(plan)
            assert applied.returncode != 0 and "gate always-fails failed" in applied.stdout + applied.stderr, (
                applied.stdout + applied.stderr
            )
            yield fleet, serve, prom, 1  # the first run of a fresh store
    finally:
        serve.stop()


def _series_ready(prom: str, run: int) -> bool:
    """Two scrapes of serve after the run paused (the cache is one collection interval), and two
    of every kata-monitor, so that rate() has what it needs."""
    return bool(
        instant(prom, f'fleetctl_upgrade_run_info{{run="{run}", state="paused"}}')
        and instant(prom, 'count_over_time(up{job="fleetctl"}[1m]) >= 2')
        and instant(prom, 'min(count_over_time(up{job="kata-monitor"}[1m])) >= 2')
    )


def test_every_dashboard_panel_has_data_and_the_rules_run(monitored: tuple[Fleet, Serve, str, int]) -> None:
    fleet, serve, prom, run = monitored
    wait_for(lambda: _series_ready(prom, run), timeout=300, what="serve's fleet series and two scrapes")

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
