"""The dashboard, driven by Textual's pilot against a store the collector filled from the simulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from textual.widgets import DataTable, Static

from fleetctl.tui.app import FleetApp, FleetScreen, NodeScreen, Snapshot
from fleetctl.tui.widgets.table import NodeTable
from simulator.server import Simulator
from store.engine import Store
from tests.support.tui import later, settle


def column(table: NodeTable, key: str) -> list[str]:
    return [str(v) for v in table.get_column(key)]


async def test_fleet_view_lists_every_node_and_filters_sorts_and_drills_in(store: Store, fresh_sim: Simulator) -> None:
    truth = fresh_sim.world.truth()
    app = FleetApp(store, refresh_s=0, clock=later)
    async with app.run_test(size=(180, 50)) as pilot:
        await settle(app)
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        nodes = screen.query_one("#nodes", NodeTable)
        assert nodes.row_count == len(truth)
        header = str(screen.query_one("#totals", Static).render())
        assert f"{len(truth)} nodes" in header and "data 3m old" in header

        await pilot.press("slash", *"arch = s390x", "enter")
        await settle(app)
        assert set(column(nodes, "arch")) == {"s390x"}
        assert nodes.row_count == sum(1 for t in truth.values() if t["arch"] == "s390x")

        nodes.move_cursor(column=4)  # KATA
        await pilot.press("s")
        await settle(app)
        versions = [v.split()[0] for v in column(nodes, "kata")]
        from store.versions import KataVersion

        assert versions == sorted(versions, key=lambda v: KataVersion.parse(v).sort_key())
        await pilot.press("s")  # the same column again: the other way round
        await settle(app)
        again = [v.split()[0] for v in column(nodes, "kata")]
        assert again == sorted(versions, key=lambda v: KataVersion.parse(v).sort_key(), reverse=True)
        assert "sorted by kata (descending)" in str(screen.query_one("#status", Static).render())

        await pilot.press("escape")  # clears the filter
        await settle(app)
        assert nodes.row_count == len(truth)

        nodes.move_cursor(row=0)
        await pilot.press("enter")
        await settle(app)
        assert isinstance(app.screen, NodeScreen)
        details = str(app.screen.query_one("#details", Static).render())
        assert (
            "Kata" in details and "Checks" in details and "Events (newest first" in details and app.screen.node in truth
        )
        await pilot.press("escape")
        assert isinstance(app.screen, FleetScreen)


async def test_a_bad_filter_says_why_and_keeps_the_table(store: Store) -> None:
    app = FleetApp(store, refresh_s=0, clock=later)
    async with app.run_test(size=(180, 50)) as pilot:
        await settle(app)
        before = app.screen.query_one("#nodes", NodeTable).row_count
        await pilot.press("slash", *"arch = = s390x", "enter")
        await settle(app)
        status = str(app.screen.query_one("#status", Static).render())
        assert "expected a value" in status and "^" in status
        assert app.screen.query_one("#nodes", NodeTable).row_count == before


def test_cluster_changes_need_write(store: Store) -> None:
    assert FleetApp(store).check_action("pause_run", ()) is None
    assert FleetApp(store, write=True).check_action("pause_run", ()) is True
    assert FleetApp(store).check_action("filter", ()) is True


def test_fleet_view_snapshot(store: Store, snap_compare: object) -> None:
    """The fleet view at 160x45 with a frozen clock (update with pytest --snapshot-update)."""
    frozen = _first_seen(store) + timedelta(minutes=3)
    app = FleetApp(store, refresh_s=0, clock=lambda: frozen)

    async def loaded(pilot: object) -> None:
        await settle(app)

    assert snap_compare(app, terminal_size=(160, 45), run_before=loaded)  # type: ignore[operator]


def _first_seen(store: Store) -> datetime:
    from store.query.reading import read_nodes

    items = read_nodes(store, where=None, selector=None, now=datetime.now(UTC)).items
    return max(i.first_seen for i in items)


async def test_releases_view_counts_nodes_per_release(store: Store, fresh_sim: Simulator) -> None:
    from collections import Counter

    from fleetctl.tui.screens.releases import ReleasesScreen

    app = FleetApp(store, refresh_s=0, clock=later)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(app)
        await pilot.press("v")
        await settle(app)
        assert isinstance(app.screen, ReleasesScreen)
        table = app.screen.query_one("#releases", DataTable)
        counts = {str(k.value): int(str(table.get_cell(k, "nodes"))) for k in table.rows}
        truth = Counter(t["installed"] for t in fresh_sim.world.truth().values())
        assert {v: n for v, n in counts.items() if n} == dict(truth)
        assert str(table.get_cell("4.1.0", "behind")) == "" and "4.1.0" in counts


def test_releases_view_snapshot(store: Store, snap_compare: object) -> None:
    """The releases view at 120x30 (the catalog and the simulator's counts are fixed)."""
    app = FleetApp(store, refresh_s=0, clock=later)

    async def opened(pilot: object) -> None:
        await settle(app)
        await pilot.press("v")  # type: ignore[attr-defined]
        await settle(app)

    assert snap_compare(app, terminal_size=(120, 30), run_before=opened)  # type: ignore[operator]


async def test_a_value_that_grows_on_refresh_widens_its_column_instead_of_being_cut(store: Store) -> None:
    app = FleetApp(store, refresh_s=0, clock=later)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(app)
        screen = app.screen
        assert isinstance(screen, FleetScreen)
        table = screen.query_one("#nodes", NodeTable)
        first = next(iter(screen.rows))
        longer = "eu-de-1-a-very-long-zone-name"
        rows = {k: dict(v) for k, v in screen.rows.items()}
        rows[first]["zone"] = longer
        widths = {**table.widths, "zone": len(longer)}
        screen._rows(Snapshot(rows, widths, None, None, [], screen.fleet_size, None))
        await pilot.pause()
        assert table.widths["zone"] == len(longer)
        line = "".join(s.text for s in table.render_line(1 + table.order.index(first)))
        assert longer in line and "…" not in line


async def test_the_node_view_refreshes_itself(store: Store) -> None:
    from store.checks import CheckResult, Status
    from store.health import record_checks

    app = FleetApp(store, refresh_s=0.5, clock=later)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(app)
        app.run_command("node kata-s390x-0001")
        await settle(app)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, NodeScreen)
        with store.write() as session:
            record_checks(
                session, "sim", {"kata-s390x-0001": [CheckResult("KATA013", Status.CRIT, "handler kata-qemu-se missing")]},
                at=datetime.now(UTC),
            )  # fmt: skip
        details = screen.query_one("#details", Static)
        for _ in range(6000):  # its own refresh shows the new check; a safety net of minutes, not a budget
            await pilot.pause(0.05)
            if "handler kata-qemu-se missing" in str(details.render()):
                break
        assert "handler kata-qemu-se missing" in str(details.render())
