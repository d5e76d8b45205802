"""Quitting is immediate: q while the dashboard executes a run restores the screen at once, the run
stops at its next step boundary (resumable, no node left cordoned), and the caller says so after."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from fleetctl.services import executor_for
from fleetctl.settings import Settings
from fleetctl.tui.app import FleetApp
from fleetctl.tui.screens.upgrades import Confirm, RunScreen, UpgradesScreen
from simulator.server import Simulator
from store.engine import Store
from store.runs import read_run, shown_state
from store.states import Outcome, RunState
from tests.support.sim import SAFETY_NET_S
from tests.support.tui import later, settle
from upgrades.controls import request_pause
from upgrades.launch import create_run_from_plan, plan_from_store
from upgrades.plandoc import plan_doc
from upgrades.planfile import parse_plan


def a_paused_run(store: Store) -> int:
    spec = parse_plan(plan_doc("quit", {"target": "4.1.0", "gates": {"enabled": False}, "drain": {"timeout": "2m"}}))
    run_id = create_run_from_plan(store, plan_from_store(store, spec))
    assert request_pause(store, run_id).state == RunState.PAUSED
    return run_id


async def until(pilot: Pilot[None], condition: threading.Event) -> None:
    for _ in range(int(SAFETY_NET_S / 0.05)):  # a safety net, not a budget
        if condition.is_set():
            return
        await pilot.pause(0.05)
    raise AssertionError("the condition never came")


def test_q_while_a_run_executes_returns_at_once_and_the_run_stops_resumable(
    store: Store, fresh_sim: Simulator, sqlite_url: str
) -> None:
    run_id = a_paused_run(store)
    settings = Settings(
        db=sqlite_url, kubeconfig=Path(fresh_sim.kubeconfig), context=None, output="table", config_path=None
    )
    interrupt = threading.Event()
    real = executor_for(store, settings, interrupt=interrupt)
    started, release, returned = threading.Event(), threading.Event(), threading.Event()
    released_after_return: list[bool] = []

    def executor(run_id: int, *, resume: bool = False) -> Outcome:
        """The real executor, once the test lets it go: until then, a step that is taking its time."""
        started.set()
        release.wait(SAFETY_NET_S * 2)  # a safety net: a dashboard that waits for it fails below, it does not hang
        released_after_return.append(returned.is_set())
        return real(run_id, resume=resume)

    app = FleetApp(store, refresh_s=0, write=True, clock=later, executor=executor, interrupt=interrupt)
    seen: list[object] = []

    async def drive(pilot: Pilot[Any]) -> None:
        await settle(app)
        await pilot.press("u")
        await settle(app)
        seen.append(type(app.screen))
        await pilot.press("enter")
        await settle(app)
        seen.append(type(app.screen))
        await pilot.press("r")
        await pilot.pause()
        seen.append(type(app.screen))
        await pilot.press("y")
        await until(pilot, started)  # the dashboard executes the run now
        await settle(app)
        await pilot.press("q")

    app.run(headless=True, size=(160, 45), auto_pilot=drive)
    returned.set()
    assert seen == [UpgradesScreen, RunScreen, Confirm]
    assert interrupt.is_set() and app.executing() == [run_id]  # app.run returned while the executor was blocked
    lines: list[str] = []

    def say(line: str) -> None:
        lines.append(line)
        release.set()  # the executor goes on only once the caller has said it waits

    app.wait_for_runs(say)
    assert released_after_return == [True]
    assert lines == [
        f"waiting for run {run_id} to stop at its step boundary (resume with: fleetctl upgrade resume {run_id})",
        f"run {run_id} interrupted; resume with: fleetctl upgrade resume {run_id}",
    ]
    view = read_run(store, run_id)
    assert shown_state(view.run) == RunState.INTERRUPTED  # resumable: active, no executor holds it
    assert not any(s.cordoned_by_us for s in view.steps)
    assert not [
        n for n in fresh_sim.world.nodes if (fresh_sim.world.node_obj(n) or {}).get("spec", {}).get("unschedulable")
    ]


async def test_colon_q_sets_the_interrupt_too(store: Store) -> None:
    app = FleetApp(store, refresh_s=0, clock=later)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app)
        assert not app.interrupt.is_set()
        await pilot.press("colon", "q", "enter")
        await pilot.pause()
    assert app.interrupt.is_set() and app.executing() == []


async def test_a_run_executed_here_says_how_it_ended_while_the_dashboard_runs(store: Store) -> None:
    finished = threading.Event()

    def executor(run_id: int, *, resume: bool = False) -> Outcome:
        finished.set()
        return Outcome.DONE

    app = FleetApp(store, refresh_s=0, write=True, clock=later, executor=executor)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app)
        assert app.act(7, "resume").startswith("run 7: executing here")  # at once: the run goes on in its thread
        await until(pilot, finished)
        for _ in range(int(SAFETY_NET_S / 0.05)):  # a safety net, not a budget
            if any(str(n.message) == "run 7: done" for n in app._notifications):
                break
            await pilot.pause(0.05)
        assert any(str(n.message) == "run 7: done" for n in app._notifications)
        assert app.executing() == [] and not app.interrupt.is_set()
