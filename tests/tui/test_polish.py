"""The dashboard's polish: health sorts crit first and turns round, cut cells show an ellipsis, every
view refreshes itself (and never with --refresh 0), the totals' counts are never cut, Enter shows at open."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from fleetctl.tui.app import FleetApp, FleetScreen, NodeScreen, Snapshot
from fleetctl.tui.data import MAX_WIDTH
from fleetctl.tui.model import HEALTH_ORDER, Totals, totals_line
from fleetctl.tui.screens.releases import ReleasesScreen
from fleetctl.tui.screens.upgrades import RunScreen, UpgradesScreen
from fleetctl.tui.widgets.table import NodeTable
from simulator.server import Simulator
from store.checks import CheckResult, Status
from store.engine import Store
from store.health import record_checks
from store.runs import DraftNode, create_run, set_run
from tests.support.tui import later, settle


async def until(pilot: Pilot[None], condition: Callable[[], bool]) -> bool:
    """Wait for the app to make ``condition`` true (a safety net of minutes, not a budget)."""
    for _ in range(6000):
        if condition():
            return True
        await pilot.pause(0.05)
    return condition()


def some_health(store: Store, sim: Simulator) -> tuple[str, str]:
    """One node crit and one warn (the rest as collected): the names."""
    crit, warn = sorted(sim.world.nodes)[-2:]
    with store.write() as session:
        record_checks(
            session, "sim",
            {crit: [CheckResult("KATA013", Status.CRIT, "handler missing")], warn: [CheckResult("KATA020", Status.WARN, "slow")]},
            at=datetime.now(UTC),
        )  # fmt: skip
    return crit, warn


def health_column(table: NodeTable) -> list[str]:
    return [str(v) for v in table.get_column("health")]


async def test_sorting_by_health_puts_crit_first_and_s_again_turns_it_round(store: Store, fresh_sim: Simulator) -> None:
    crit, _ = some_health(store, fresh_sim)
    app = FleetApp(store, refresh_s=0, clock=later)
    async with app.run_test(size=(180, 50)) as pilot:
        await settle(app)
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        nodes = screen.query_one("#nodes", NodeTable)
        nodes.move_cursor(column=[k for k, _ in nodes.columns].index("health"))
        await pilot.press("s")
        await settle(app)
        shown = health_column(nodes)
        assert shown[0] == "crit" and nodes.order[0] == f"sim/{crit}"
        assert shown == sorted(shown, key=HEALTH_ORDER.index) and "warn" in shown
        assert "sorted by health (crit first)" in str(screen.query_one("#status", Static).render())
        await pilot.press("s")
        await settle(app)
        again = health_column(nodes)
        assert again == sorted(shown, key=HEALTH_ORDER.index, reverse=True) and again[-1] == "crit"
        assert "sorted by health (ok first)" in str(screen.query_one("#status", Static).render())


async def test_a_cell_wider_than_its_column_is_cut_with_an_ellipsis(store: Store) -> None:
    app = FleetApp(store, refresh_s=0, clock=later)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(app)
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        table = screen.query_one("#nodes", NodeTable)
        first = next(iter(screen.rows))
        longer = "eu-de-1-" + "z" * (MAX_WIDTH + 10)
        rows = {k: dict(v) for k, v in screen.rows.items()}
        rows[first]["zone"] = longer
        screen._rows(Snapshot(rows, {**table.widths, "zone": MAX_WIDTH}, None, None, [], screen.fleet_size, None))
        await pilot.pause()
        line = "".join(s.text for s in table.render_line(1 + table.order.index(first)))
        assert longer[: MAX_WIDTH - 1] + "…" in line and longer not in line


async def test_the_fleet_view_refreshes_itself(store: Store, fresh_sim: Simulator) -> None:
    app = FleetApp(store, refresh_s=0.5, clock=later)
    async with app.run_test(size=(180, 50)) as pilot:
        await settle(app)
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        crit, _ = some_health(store, fresh_sim)  # the store changes underneath the view
        assert await until(pilot, lambda: screen.rows.get(f"sim/{crit}", {}).get("health") == "crit")
        assert await until(pilot, lambda: "crit 1" in str(screen.query_one("#totals", Static).render()))


async def test_the_releases_view_refreshes_itself(store: Store) -> None:
    from store.releases import ReleaseInfo, upsert_releases

    app = FleetApp(store, refresh_s=0.5, clock=later)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(app)
        await pilot.press("v")
        await settle(app)
        assert isinstance(app.screen, ReleasesScreen)
        table = app.screen.query_one("#releases", DataTable)
        assert "9.9.9" not in {str(k.value) for k in table.rows}
        with store.write() as session:
            upsert_releases(session, [ReleaseInfo("9.9.9", arches=("amd64",))], source="test", at=datetime.now(UTC))
        assert await until(pilot, lambda: "9.9.9" in {str(k.value) for k in table.rows})


def a_run(store: Store, sim: Simulator) -> int:
    nodes = sorted(sim.world.nodes)[:2]
    waves = [[DraftNode("sim", n, "3.28.0", "4.1.0") for n in nodes]]
    return create_run(
        store, name="to-4-1", target="4.1.0", plan={"source": {}, "runBudget": 0, "maxUnavailable": 1}, waves=waves
    )


async def test_the_run_view_refreshes_itself(store: Store, fresh_sim: Simulator) -> None:
    run_id = a_run(store, fresh_sim)
    app = FleetApp(store, refresh_s=0.5, clock=later)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(app)
        await pilot.press("u")
        await settle(app)
        await pilot.press("enter")
        await settle(app)
        screen = app.screen
        assert isinstance(screen, RunScreen)
        summary = screen.query_one("#summary", Static)
        set_run(store, run_id, state="paused", message="paused underneath the view")
        assert await until(pilot, lambda: "paused underneath the view" in str(summary.render()))


async def test_refresh_0_means_no_view_refreshes_itself(store: Store, fresh_sim: Simulator) -> None:
    a_run(store, fresh_sim)
    app = FleetApp(store, refresh_s=0, clock=later)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(app)
        screens = []
        for command in ("upgrades", "releases", "node kata-s390x-0001"):
            app.run_command(command)
            await settle(app)
            await pilot.pause()
            screens.append(app.screen)
        await pilot.press("escape")
        await pilot.press("u", "enter")
        await settle(app)
        screens.append(app.screen)
        assert [type(s) for s in screens] == [UpgradesScreen, ReleasesScreen, NodeScreen, RunScreen]
        intervals = [t.name for s in [app, *screens] for t in s._timers if t.name.startswith("set_interval")]
        assert intervals == []  # no view re-reads by itself: --refresh 0 is never


@pytest.mark.parametrize("width", [80, 100])
async def test_the_totals_bar_shows_all_four_counts_whole(store: Store, fresh_sim: Simulator, width: int) -> None:
    some_health(store, fresh_sim)
    app = FleetApp(store, refresh_s=0, clock=later)
    async with app.run_test(size=(width, 30)) as pilot:
        await settle(app)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, FleetScreen) and screen.totals is not None
        bar = screen.query_one("#totals", Static)
        lines = ["".join(s.text for s in strip) for strip in bar.render_lines(bar.region.reset_offset)]
        assert len(lines) == 1
        counts = screen.totals[0].health
        assert counts["crit"] >= 1 and counts["warn"] >= 1
        for health in HEALTH_ORDER:
            assert f"{health} {counts[health]} " in lines[0] + " "
        assert "…" not in lines[0] and len(lines[0].rstrip()) <= width


def test_the_totals_line_gives_way_by_priority_and_cuts_only_what_cannot_fit() -> None:
    t = Totals(3, 400, 1600, 7, 12, 3, {"crit": 2, "warn": 5, "unknown": 1, "ok": 392})
    full = totals_line(t, "data 12m old", 200)[1]
    assert full.startswith("3 clusters  400 nodes  1600 vCPUs  7 Kata releases") and full.endswith("data 12m old")
    for width in (78, 60, 40, 30):
        plain = totals_line(t, "data 12m old", width)[1]
        assert len(plain) <= width and "crit 2 warn 5 unknown 1 ok 392" in plain
    assert "400 nodes" in totals_line(t, "data 12m old", 78)[1]
    assert totals_line(t, "data 12m old", 10)[1] == "crit 2 wa…"


async def test_the_footer_shows_enter_from_the_first_frame(store: Store) -> None:
    app = FleetApp(store, refresh_s=0, clock=later)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.pause()
        assert isinstance(app.focused, NodeTable)  # no hand focus: the node table has it at open
        shown = {b.binding.key for b in app.screen.active_bindings.values() if b.binding.show}
        assert {"enter", "question_mark"} <= shown
        await settle(app)
        await pilot.press("enter")
        await settle(app)
        assert isinstance(app.screen, NodeScreen)  # Enter opens the node under the cursor
