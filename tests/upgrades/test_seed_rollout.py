"""The happy path at the users' scale: the whole `seed` fleet (about 400 nodes) to the newest release."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.server import ServerOptions, Simulator
from tests.support.fleet import NEWEST, Fleet
from tests.support.prometheus import prometheus_server


@pytest.fixture
def seed_fleet(tmp_path: Path) -> Iterator[Fleet]:
    options = ServerOptions(
        profile="seed",
        seed=5,
        time_scale=200,
        out_dir=tmp_path / "sim",
        bookmark_seconds=0.5,
        churn=False,
        lean_metrics=True,  # 400 kata-monitors scraped every 2 s: the families the gates read, as the demo serves
    )
    with Simulator(options) as sim, prometheus_server(sim.targets, interval="2s") as prometheus:
        yield Fleet(sim, tmp_path, prometheus)


def test_seed_fleet_rolls_out_to_the_newest_release(seed_fleet: Fleet) -> None:
    fleet = seed_fleet
    before = fleet.installed()
    plan = fleet.plan_file(
        waves={"sizes": [1, "10%", "25%"], "order": "zone-arch", "maxUnavailable": "10%"},
        drain={"timeout": "60s", "onTimeout": "skip"},
        gates={
            "soak": "1s",
            "checks": [
                {
                    "name": "scrape-failures",
                    "query": 'max(rate(kata_monitor_scrape_failed_count{node=~"{{wave_nodes}}"}[30s]))',
                    "successCondition": "value < 0.1",
                    "noData": "pass",
                }
            ],
        },
        failureBudget={"perWave": "5%", "perRun": "2%"},
    )
    planned = json.loads(fleet.run("upgrade", "plan", plan, "-o", "json").stdout)
    in_scope = {n["name"] for w in planned["waves"] for n in w["nodes"]}
    assert len(in_scope) > 300 and len(in_scope) == sum(1 for v in before.values() if v and v != NEWEST)
    result = fleet.apply(plan)
    assert result.returncode == 0, result.stderr[-2000:] + result.stdout[-2000:]
    assert fleet.run("collect").returncode == 0
    reported = json.loads(fleet.run("nodes", "-o", "json").stdout)["items"]
    versions = {i["name"]: i["kata"]["version"] for i in reported}
    assert {versions[n] for n in in_scope} == {NEWEST}  # what the nodes report, read back by the collector
    skipped = {n["name"] for n in fleet.status()["nodes"] if n["state"] == "skipped"}
    assert not skipped and not fleet.cordoned()
    deletions = fleet.deletions()
    assert all(deletions.get(n) == 1 for n in in_scope)
