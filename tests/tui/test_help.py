"""k9s's aids in the dashboard: ? lists the view's keys, : goes to a view, g reopens the demo's guide."""

from __future__ import annotations

import pytest
from textual.widgets import Static

from fleetctl.tui.app import FleetApp, FleetScreen, NodeScreen
from fleetctl.tui.screens.help import CommandError, GuideScreen, HelpScreen, parse_command
from fleetctl.tui.screens.releases import ReleasesScreen
from fleetctl.tui.screens.upgrades import UpgradesScreen
from store.engine import Store
from tests.support.tui import later, settle

GUIDE = "The guided scenario:\n  1. fleetctl rehearse plan.yaml    # first\n  2. fleetctl upgrade apply plan.yaml --yes\n  3. watch"


async def test_question_mark_lists_every_key_of_the_view_and_the_footer_shows_it(store: Store) -> None:
    app = FleetApp(store, refresh_s=0, clock=later)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(app)
        app.screen.query_one("#nodes").focus()
        await pilot.pause()
        shown = {b.binding.key for b in app.screen.active_bindings.values() if b.binding.show}
        assert {"question_mark", "colon", "enter"} <= shown  # the footer shows ? and enter
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        keys = dict(app.screen.keys)
        assert keys["/"] == "Filter" and keys["s"] == "Sort column" and keys["u"] == "Upgrades"
        assert keys["⏎"] == "Open" and keys["?"] == "Help" and keys[":"] == "Command" and keys["esc"] == "Clear filter"
        await pilot.press("escape")
        assert isinstance(app.screen, FleetScreen)
        await pilot.press("u")
        await settle(app)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen) and app.screen.view == "upgrades"
        assert dict(app.screen.keys)["r"] == "Refresh"


async def test_colon_goes_to_the_view_it_names(store: Store) -> None:
    app = FleetApp(store, refresh_s=0, clock=later)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(app)

        async def command(text: str) -> None:
            await pilot.press("colon", *text, "enter")
            await settle(app)
            await pilot.pause()

        await command("upgrades")
        assert isinstance(app.screen, UpgradesScreen)
        await command("releases")
        assert isinstance(app.screen, ReleasesScreen) and len(app.screen_stack) == 3  # one step from the fleet view
        await command("nodes")
        assert isinstance(app.screen, FleetScreen)
        await command("node kata-s390x-0001")
        assert isinstance(app.screen, NodeScreen) and app.screen.node == "kata-s390x-0001"
        await command("nodez")
        assert isinstance(app.screen, NodeScreen)  # a mistake goes nowhere
        await command("q")
    assert app.return_code == 0


def test_commands_parse_with_a_did_you_mean() -> None:
    assert parse_command(":node n1").argument == "n1" and parse_command("up").verb == "upgrades"
    with pytest.raises(CommandError, match="did you mean :nodes"):
        parse_command(":nods")
    with pytest.raises(CommandError, match="one node name"):
        parse_command(":node")


async def test_the_guide_opens_first_and_g_reopens_it(store: Store) -> None:
    app = FleetApp(store, refresh_s=0, clock=later, guide=GUIDE)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(app)
        await pilot.pause()
        assert isinstance(app.screen, GuideScreen)
        assert "fleetctl upgrade apply plan.yaml --yes" in str(app.screen.query_one("#guide-text", Static).render())
        await pilot.press("c")
        assert app.clipboard == "fleetctl rehearse plan.yaml\nfleetctl upgrade apply plan.yaml --yes"
        await pilot.press("escape")
        assert isinstance(app.screen, FleetScreen)
        await pilot.press("g")
        await pilot.pause()
        assert isinstance(app.screen, GuideScreen)


async def test_without_a_guide_g_says_where_one_comes_from(store: Store) -> None:
    app = FleetApp(store, refresh_s=0, clock=later)
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(app)
        await pilot.press("g")
        await pilot.pause()
        assert isinstance(app.screen, FleetScreen)
        assert any("fleetctl demo" in str(n.message) for n in app._notifications)
