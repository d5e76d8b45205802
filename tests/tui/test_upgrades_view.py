"""The upgrades views: runs, one run's waves and nodes, and the write-guarded, confirmed actions."""

from __future__ import annotations

from textual.widgets import DataTable, ProgressBar, Static

from fleetctl.tui.app import FleetApp
from fleetctl.tui.upgrades import Confirm, RunScreen, UpgradesScreen
from simulator.server import Simulator
from store.engine import Store
from store.runs import DraftNode, create_run, read_run
from tests.tui.conftest import later, settle


def a_run(store: Store, sim: Simulator) -> int:
    nodes = sorted(sim.world.nodes)[:3]
    waves = [
        [DraftNode("sim", nodes[0], "3.28.0", "4.1.0")],
        [DraftNode("sim", n, "3.28.0", "4.1.0") for n in nodes[1:]],
    ]
    return create_run(
        store, name="to-4-1", target="4.1.0", plan={"source": {}, "runBudget": 0, "maxUnavailable": 1}, waves=waves
    )


async def open_run(app: FleetApp, pilot: object) -> RunScreen:
    await settle(app)
    await pilot.press("u")  # type: ignore[attr-defined]
    await settle(app)
    assert isinstance(app.screen, UpgradesScreen)
    assert app.screen.query_one("#runs", DataTable).row_count == 1
    await pilot.press("enter")  # type: ignore[attr-defined]
    await settle(app)
    screen = app.screen
    assert isinstance(screen, RunScreen)
    return screen


async def test_a_run_shows_its_waves_and_pause_asks_first(store: Store, fresh_sim: Simulator) -> None:
    run_id = a_run(store, fresh_sim)
    app = FleetApp(store, refresh_s=0, write=True, clock=later)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_run(app, pilot)
        assert len(screen.query(ProgressBar)) == 2
        assert "run 1" in str(screen.query_one("#summary", Static).render())
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, Confirm)
        await pilot.press("n")  # no: nothing changes
        await settle(app)
        assert read_run(store, run_id).run.state == "pending"
        await pilot.press("p")
        await pilot.pause()
        await pilot.press("y")
        await settle(app)
        assert read_run(store, run_id).run.state == "paused"


async def test_read_only_refuses_every_mutation(store: Store, fresh_sim: Simulator) -> None:
    run_id = a_run(store, fresh_sim)
    app = FleetApp(store, refresh_s=0, write=False, clock=later)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_run(app, pilot)
        for key in ("p", "a", "b", "r"):
            await pilot.press(key)
            await pilot.pause()
            assert app.screen is screen  # no confirmation: the action is disabled
        assert read_run(store, run_id).run.state == "pending"
        assert "read-only" in str(screen.query_one("#summary", Static).render())
