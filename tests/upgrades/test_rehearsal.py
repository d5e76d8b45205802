"""``fleetctl rehearse``: a copy of the collected fleet predicts what a real apply then does,
and rehearsing touches nothing real."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.server import Simulator
from tests.support.fleet import NEWEST, Fleet
from tests.support.sim import admin


@pytest.fixture
def fleet(fresh_sim: Simulator, tmp_path: Path) -> Fleet:
    return Fleet(fresh_sim, tmp_path)


def test_a_rehearsal_predicts_the_waves_a_real_apply_carries_out(fleet: Fleet) -> None:
    plan = fleet.plan_file(
        selector={"where": "arch in (amd64, s390x)"},
        waves={"sizes": [2, "50%"], "order": "arch-zone", "maxUnavailable": 4},
        drain={"timeout": "2m", "onTimeout": "skip"},
    )
    admin(fleet.sim, "/_sim/requests?clear=1")
    before = (fleet.installed(), fleet.deletions())

    rehearsal = fleet.run("rehearse", plan, "--time-scale", "50", "-o", "json")

    assert rehearsal.returncode == 0, rehearsal.stderr + rehearsal.stdout
    doc = json.loads(rehearsal.stdout)
    # Copied from the store and, read-only, from the cluster: its nodes, pods and PDBs.
    [copy] = doc["copies"]
    assert copy["workloads"] == "copied" and copy["pdbs"] == 12 and copy["builds"] > 0 and copy["recreated"] > 0
    assert doc["completes"] and doc["predictedSeconds"] > 0 and all(n["state"] == "done" for n in doc["nodes"])
    assert sum(n["buildsEvicted"] for n in doc["nodes"]) > 0  # what the drains would do to running builds
    # Nothing real was touched: only reads reached the cluster, and no node changed.
    verbs = {r["verb"] for r in admin(fleet.sim, "/_sim/requests")}
    assert verbs <= {"get", "list"}, verbs
    assert (fleet.installed(), fleet.deletions()) == before and fleet.cordoned() == []

    applied = fleet.apply(plan)

    assert applied.returncode == 0, applied.stderr + applied.stdout
    status = fleet.status()
    predicted = [[n["name"] for n in w["nodes"]] for w in doc["waves"]]
    carried_out = [[n["name"] for n in status["nodes"] if n["wave"] == w["number"]] for w in status["waves"]]
    assert predicted == carried_out and len(predicted) >= 3
    assert {n["name"] for n in status["nodes"] if n["state"] == "done"} == {n for w in predicted for n in w}
    assert all(fleet.installed()[n] == NEWEST for w in predicted for n in w)


def test_rehearsing_a_plan_apply_would_refuse_says_why(fleet: Fleet) -> None:
    plan = fleet.plan_file(target="3.24.0")  # older than every node: a downgrade
    result = fleet.run("rehearse", plan, "--no-workloads")
    assert result.returncode == 1, result.stderr
    assert "downgrade" in result.stdout
    bad = fleet.run("rehearse", plan, "--regress", "sparc")
    assert bad.returncode == 2 and "--regress" in bad.stderr and "amd64" in bad.stderr
