"""``fleetctl serve`` against the simulator: rollouts that start when their window opens, pause
when it closes, survive SIGTERM, and move to the other replica when the leader dies."""

from __future__ import annotations

import json
import signal
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from fleetctl.serve.daemon import LEADER_LEASE
from simulator.server import Simulator
from store.migrate import open_store
from store.runs import read_run
from tests.support.fleet import NEWEST, Fleet
from tests.support.serve import Serve, window_starting_in
from tests.support.sim import api_client, wait_for
from upgrades.executor import WINDOW_CLOSED


def leader_lease(sim: Simulator) -> Any:
    """The leader Lease's spec, read with the official client."""
    api = client.CoordinationV1Api(api_client(sim))
    return api.read_namespaced_lease(LEADER_LEASE, "kube-system").spec


def run_view(fleet: Fleet, run: int = 1):  # type: ignore[no-untyped-def]
    with open_store(fleet.db) as store:
        return read_run(store, run)


def run_state(fleet: Fleet, run: int = 1) -> str | None:
    with open_store(fleet.db) as store:
        from store.runs import list_runs

        runs = {r.id: r.state for r in list_runs(store)}
    return runs.get(run)


@pytest.fixture
def fleet(fresh_sim: Simulator, tmp_path: Path) -> Fleet:
    return Fleet(fresh_sim, tmp_path)


def test_a_scheduled_rollout_runs_only_inside_its_windows(fleet: Fleet) -> None:
    plan = fleet.plan_file("nightly", waves={"sizes": [2, 4], "maxUnavailable": 2})
    window, first = window_starting_in(6, every=12, duration=5)
    added = fleet.run("schedule", "add", plan, "--window", window, "--duration", "5s")
    assert added.returncode == 0, added.stderr
    serve = Serve(fleet, "serve")
    try:
        wait_for(lambda: serve.get("/readyz")[0] == 200, what="serve ready")
        assert run_state(fleet) is None  # the window has not opened: no run yet
        wait_for(lambda: run_state(fleet) == "done", timeout=240, interval=0.5, what="the scheduled run done")
        metrics = serve.get("/metrics")[1]
    finally:
        assert serve.stop() == 0
    view = run_view(fleet)
    assert view.run.created_at >= first
    openings = [first + timedelta(seconds=12 * i) for i in range(40)]
    for step in view.steps:  # no node started outside an opening (a little slack for the poll)
        assert step.started_at is not None
        assert any(o <= step.started_at < o + timedelta(seconds=5.5) for o in openings), (step.node, step.started_at)
    assert WINDOW_CLOSED in serve.text()  # the run outlived an opening, paused, and went on at the next
    installed = fleet.installed()
    assert all(installed[s.node] == NEWEST for s in view.steps)
    deletions = fleet.deletions()
    assert all(deletions.get(s.node) == 1 for s in view.steps)
    assert not fleet.cordoned()
    assert (
        "fleetctl_leader 1.0" in metrics and 'fleetctl_job_duration_seconds_count{job="collect-inventory"}' in metrics
    )


def test_sigterm_checkpoints_mid_step_and_a_restart_resumes(fleet: Fleet) -> None:
    plan = fleet.plan_file("now", waves={"sizes": [3, 6], "maxUnavailable": 3})
    window, _ = window_starting_in(1, every=3600, duration=3600)
    assert fleet.run("schedule", "add", plan, "--window", window, "--duration", "1h").returncode == 0
    first = Serve(fleet, "first")
    wait_for(lambda: sum(s.state == "done" for s in run_view(fleet).steps) >= 2 if run_state(fleet) else False,
             timeout=120, interval=0.2, what="a few nodes done")  # fmt: skip
    assert first.stop(signal.SIGTERM) == 0  # it checkpoints and exits on its own: no SIGKILL was needed
    assert "finishing the current node steps" in first.text()
    view = run_view(fleet)
    assert view.run.state == "running" and view.run.holder is None  # a checkpoint, not a pause; the lock is free
    assert any(s.state == "running" for s in view.steps) or any(s.state == "pending" for s in view.steps)
    for wave in view.waves:  # a wave whose nodes were interrupted is not done
        if wave.state == "done":
            assert all(s.state in ("done", "failed", "skipped") for s in view.wave_steps(wave.number)), wave.number
    second = Serve(fleet, "second")
    try:
        wait_for(lambda: run_state(fleet) == "done", timeout=240, interval=0.5, what="the resumed run done")
    finally:
        assert second.stop() == 0
    steps = run_view(fleet).steps
    assert all(s.state == "done" for s in steps)
    deletions = fleet.deletions()
    assert all(deletions.get(s.node) == 1 for s in steps), deletions  # no node installed twice
    assert not fleet.cordoned()


@pytest.mark.postgres
def test_the_standby_replica_takes_over_a_rollout_when_the_leader_dies(
    fresh_sim: Simulator, tmp_path: Path, pg_url: str
) -> None:
    fleet = Fleet(fresh_sim, tmp_path)
    fleet.db = pg_url
    assert fleet.run("collect").returncode == 0
    plan = fleet.plan_file("failover", waves={"sizes": [3, 6], "maxUnavailable": 3})
    window, _ = window_starting_in(3, every=3600, duration=3600)
    assert fleet.run("schedule", "add", plan, "--window", window, "--duration", "1h").returncode == 0
    a = Serve(fleet, "a")
    wait_for(lambda: "leading" in a.get("/readyz")[1], what="a leads")
    b = Serve(fleet, "b")
    try:
        wait_for(lambda: b.get("/readyz")[0] == 200, what="b ready")
        assert "following" in b.get("/readyz")[1]
        wait_for(lambda: sum(s.state == "done" for s in run_view(fleet).steps) >= 2 if run_state(fleet) else False,
                 timeout=120, interval=0.2, what="the leader mid-rollout")  # fmt: skip
        held_by_a = leader_lease(fresh_sim)
        assert held_by_a.holder_identity.split("/")[1] == str(a.proc.pid)
        a.stop(signal.SIGKILL)
        wait_for(lambda: "leading" in b.get("/readyz")[1], what="b takes over")
        taken = leader_lease(fresh_sim)  # b took the same Lease over: one more transition, never two leaders
        assert taken.holder_identity.split("/")[1] == str(b.proc.pid)
        assert (taken.lease_transitions or 0) == (held_by_a.lease_transitions or 0) + 1
        assert taken.acquire_time >= held_by_a.renew_time  # b acquired it only after a's last renewal
        wait_for(lambda: run_state(fleet) == "done", timeout=240, interval=0.5, what="b finishes the run")
        assert json.loads(fleet.run("upgrade", "status", "-o", "json").stdout)["state"] == "done"
    finally:
        assert b.stop() == 0
    steps = run_view(fleet).steps
    deletions = fleet.deletions()
    assert all(s.state == "done" for s in steps)
    assert all(deletions.get(s.node) == 1 for s in steps), deletions
    assert not fleet.cordoned()
