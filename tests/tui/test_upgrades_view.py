"""The upgrades views: runs, one run's waves and nodes, and the write-guarded, confirmed actions."""

from __future__ import annotations

from textual.widgets import DataTable, Label, ProgressBar, Static

from fleetctl.tui.app import FleetApp
from fleetctl.tui.screens.upgrades import Confirm, RunScreen, UpgradesScreen
from simulator.server import Simulator
from store.engine import Store
from store.runs import DraftNode, create_run, read_run
from tests.support.tui import later, settle


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


async def test_the_run_list_refreshes_itself_newest_first(store: Store, fresh_sim: Simulator) -> None:
    first = a_run(store, fresh_sim)
    app = FleetApp(store, refresh_s=0.5, write=False, clock=later)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(app)
        await pilot.press("u")
        await settle(app)
        table = app.screen.query_one("#runs", DataTable)
        assert [str(k.value) for k in table.rows] == [str(first)]
        second = a_run(store, fresh_sim)
        for _ in range(6000):  # its own refresh brings the new run; a safety net of minutes, not a budget
            await pilot.pause(0.05)
            if table.row_count == 2:
                break
        assert [str(k.value) for k in table.rows] == [str(second), str(first)]
        assert table.get_cell(str(second), "state").plain == "pending"


async def test_a_long_question_wraps_inside_its_dialog(store: Store) -> None:
    question = (
        "Roll back run 12 (demo-guided)? Its 57 changed nodes go back to their previous release, as a new run, "
        "through the same per-node flow (drain, install, verify)."
    )
    app = FleetApp(store, refresh_s=0, write=True, clock=later)
    async with app.run_test(size=(80, 30)) as pilot:
        await settle(app)
        app.push_screen(Confirm(question))
        await pilot.pause()
        await pilot.pause()
        label = app.screen.query_one(Label)
        shown = " ".join(
            "".join(s.text for s in line).strip() for line in label.render_lines(label.region.reset_offset)
        )
        assert shown == question and label.size.height >= 3
