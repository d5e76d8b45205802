"""A monitored fleet, as on-call would have it: a collected simulated fleet with a rollout paused at
its gate, ``fleetctl serve`` exporting it, and Debian's Prometheus scraping serve and the simulated
kata-monitors with fleetctl's rules loaded. Used by the monitoring tests and the dashboard picture."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from simulator.prometheus import PrometheusProcess, free_port
from simulator.server import Simulator
from tests.support.fleet import Fleet
from tests.support.prometheus import instant
from tests.support.serve import Serve
from tests.support.sim import admin, kubectl, wait_for

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
    blind: str  # a 4.0.x runtime-rs node whose kata-monitor counts no shims (kata-containers#12666)
    stale: str  # a node whose Kata pods started before its last install


def dashboard_queries(run: int, cluster: str = ".*", arch: str = ".*") -> list[tuple[str, str]]:
    """(panel title, expr) of every target, with the template variables as a user would pick them
    (by default every cluster and arch; this run)."""
    board = json.loads(DASHBOARD.read_text())
    return [
        (p["title"], fill_variables(t["expr"], run, cluster, arch))
        for p in board["panels"]
        for t in p.get("targets", [])
    ]


def fill_variables(expr: str, run: int, cluster: str = ".*", arch: str = ".*") -> str:
    """A panel's expr with the dashboard's variables as a user picks them: a regex for cluster and arch
    (multi-value, All is ``.*``), this run."""
    return (
        expr.replace('"$cluster"', json.dumps(cluster)).replace('"$arch"', json.dumps(arch)).replace("$run", str(run))
    )


def variable_queries(run: int) -> list[tuple[str, str, str]]:
    """(variable, the series selector of its ``label_values(selector, label)`` query, the label) as
    Grafana runs it, with the variables it depends on at All (``.*``)."""
    board = json.loads(DASHBOARD.read_text())
    out = []
    for var in board["templating"]["list"]:
        if var.get("type") == "query":
            m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", str(var["query"]).strip())
            assert m, f"variable {var['name']}: not a label_values(selector, label) query: {var['query']}"
            out.append((var["name"], fill_variables(m.group(1), run), m.group(2)))
    return out


@contextmanager
def monitored_fleet(sim: Simulator, tmp: Path) -> Iterator[Monitored]:
    """Everything running, and two scrapes of serve and of every kata-monitor since the run paused.

    serve runs with ``--prometheus`` (the test's Prometheus, which scrapes it), so its health checks
    read the kata-monitors for real. The world is given what the panels chart: a drifted node, a
    4.0.x runtime-rs node kata-monitor is blind to, and a node with stale sandboxes; the last two are
    pinned, so that the rollout leaves them as they are."""
    blind, stale, drifted = _special_nodes(sim)
    _kubectl(sim, "label", "node", drifted, "katacontainers.io/kata-runtime=cleanup", "--overwrite")  # drift
    admin(sim, "/_sim/faults", "PATCH", {"kataMonitorBlind": [blind]})  # 4.0's kata-monitor and runtime-rs
    installed = max(_kata_starts(sim, stale)) + timedelta(hours=1)  # its last install: after its pods started
    _kubectl(sim, "annotate", "node", stale, f"{INSTALLED_AT}={installed:%Y-%m-%dT%H:%M:%SZ}", "--overwrite")
    for node in (blind, stale):
        _kubectl(sim, "label", "node", node, "fleetctl.io/pinned=true", "--overwrite")
    fleet = Fleet(sim, tmp)
    port = free_port()  # serve's, known before serve starts: Prometheus retries the scrape until it answers
    prom = PrometheusProcess(
        sim.targets, static_jobs={"fleetctl": [f"127.0.0.1:{port}"]}, rule_files=[MONITORING / "fleetctl-rules.yaml"]
    )
    serve = Serve(fleet, "serve", "--prometheus", prom.url, "--health-interval", "5s", port=port)
    try:
        prom.start()
        fleet.prometheus = prom.url
        wait_for(lambda: instant(prom.url, 'up{job="kata-monitor"} == 1'), what="a kata-monitor scrape")
        applied = fleet.apply(fleet.plan_file("paused", waves={"sizes": [2]}, gates=FAILING_GATE))
        output = applied.stdout + applied.stderr
        assert applied.returncode != 0 and "gate always-fails failed" in output, output
        run = 1  # the first run of a fresh store
        wait_for(lambda: _series_ready(prom.url, run, blind), timeout=300, what="serve's fleet series and two scrapes")
        yield Monitored(fleet, serve, prom.url, run, blind, stale)
    finally:
        serve.stop()
        prom.close()


INSTALLED_AT = "upgrade.fleetctl.io/installed-at"


def _kubectl(sim: Simulator, *args: str) -> None:
    done = kubectl(sim, *args)
    assert done.returncode == 0, done.stderr


def _kata_starts(sim: Simulator, node: str) -> list[datetime]:
    """When the node's Running Kata pods started."""
    return [
        datetime.fromisoformat(str(pod["status"]["startTime"]).replace("Z", "+00:00")) for pod in _kata_pods(sim, node)
    ]


def _kata_pods(sim: Simulator, node: str) -> list[dict[str, Any]]:
    pods = [e.obj for e in sim.world.pods_on(node)]
    return [
        p
        for p in pods
        if str(p["spec"].get("runtimeClassName") or "").startswith("kata")
        and p.get("status", {}).get("phase") == "Running"
        and p["status"].get("startTime")
    ]


def _special_nodes(sim: Simulator) -> tuple[str, str, str]:
    """Three nodes of one arch (so that one arch picked on the dashboard shows all three): a 4.0.x
    node whose default shim is runtime-rs (not ppc64le) with Kata pods, another with Kata pods, and one more."""
    truth = sim.world.truth()
    busy = [n for n in sorted(truth) if _kata_pods(sim, n)]
    blind = next(n for n in busy if truth[n]["installed"].startswith("4.0.") and truth[n]["arch"] != "ppc64le")
    arch = truth[blind]["arch"]
    stale = next(n for n in busy if n != blind and truth[n]["arch"] == arch)
    drifted = [n for n in sorted(truth) if n not in (blind, stale) and truth[n]["arch"] == arch][-1]
    return blind, stale, drifted


def _series_ready(prom: str, run: int, blind: str) -> bool:
    """serve's series show the paused run and the blind node's KATA006 from a real health check,
    and were scraped twice (the cache is one collection interval), and every kata-monitor twice,
    so that rate() has what it needs."""
    return bool(
        instant(prom, f'fleetctl_upgrade_run_info{{run="{run}", state="paused"}}')
        and instant(prom, 'fleetctl_checks{code="KATA003", severity="ok"} > 0')  # a health round read Prometheus
        and instant(prom, f'fleetctl_node_check_status{{node="{blind}", code="KATA006", severity="unknown"}}')
        and instant(prom, 'count_over_time(up{job="fleetctl"}[1m]) >= 2')
        and instant(prom, 'min(count_over_time(up{job="kata-monitor"}[1m])) >= 2')
    )
