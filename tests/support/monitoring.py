"""A monitored fleet, as on-call would have it: a collected simulated fleet with a rollout paused at
its gate, ``fleetctl serve`` exporting it, and Debian's Prometheus scraping serve and the simulated
kata-monitors with fleetctl's rules loaded. Used by the monitoring tests and the dashboard picture."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from simulator.server import Simulator
from tests.support.fleet import Fleet
from tests.support.prometheus import instant, prometheus_server
from tests.support.serve import Serve
from tests.support.sim import kubectl, wait_for

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
DASHBOARD = MONITORING / "fleetctl-dashboard.json"
FAILING_GATE = {
    "soak": "0s",
    "checks": [{"name": "always-fails", "query": "vector(1)", "successCondition": "value < 0.5", "interval": "1s"}],
}


@dataclass
class Monitored:
    """The fleet, its serve, the Prometheus URL and the paused run's id."""

    fleet: Fleet
    serve: Serve
    prometheus: str
    run: int


def dashboard_queries(run: int) -> list[tuple[str, str]]:
    """(panel title, expr) of every target, with the template variables as a user would pick them
    (every cluster and arch, this run)."""
    board = json.loads(DASHBOARD.read_text())
    return [(p["title"], fill_variables(t["expr"], run)) for p in board["panels"] for t in p.get("targets", [])]


def fill_variables(expr: str, run: int) -> str:
    """A panel's expr with the dashboard's variables as a user picks them: every cluster and arch, this run."""
    return expr.replace('"$cluster"', '".*"').replace('"$arch"', '".*"').replace("$run", str(run))


@contextmanager
def monitored_fleet(sim: Simulator, tmp: Path) -> Iterator[Monitored]:
    """Everything running, and two scrapes of serve and of every kata-monitor since the run paused."""
    drifted = sorted(sim.world.nodes)[-1]  # a node whose kata label says otherwise: drift to chart
    labelled = kubectl(sim, "label", "node", drifted, "katacontainers.io/kata-runtime=cleanup", "--overwrite")
    assert labelled.returncode == 0, labelled.stderr
    fleet = Fleet(sim, tmp)
    serve = Serve(fleet, "serve")  # its port is known before it answers; Prometheus retries the scrape
    try:
        with prometheus_server(
            sim.targets,
            static_jobs={"fleetctl": [f"127.0.0.1:{serve.port}"]},
            rule_files=[MONITORING / "fleetctl-rules.yaml"],
        ) as prom:
            fleet.prometheus = prom
            wait_for(lambda: instant(prom, 'up{job="kata-monitor"} == 1'), what="a kata-monitor scrape")
            applied = fleet.apply(fleet.plan_file("paused", waves={"sizes": [2]}, gates=FAILING_GATE))
            output = applied.stdout + applied.stderr
            assert applied.returncode != 0 and "gate always-fails failed" in output, output
            run = 1  # the first run of a fresh store
            wait_for(lambda: _series_ready(prom, run), timeout=300, what="serve's fleet series and two scrapes")
            yield Monitored(fleet, serve, prom, run)
    finally:
        serve.stop()


def _series_ready(prom: str, run: int) -> bool:
    """serve's series show the paused run and were scraped twice (the cache is one collection
    interval), and every kata-monitor twice, so that rate() has what it needs."""
    return bool(
        instant(prom, f'fleetctl_upgrade_run_info{{run="{run}", state="paused"}}')
        and instant(prom, 'count_over_time(up{job="fleetctl"}[1m]) >= 2')
        and instant(prom, 'min(count_over_time(up{job="kata-monitor"}[1m])) >= 2')
    )
