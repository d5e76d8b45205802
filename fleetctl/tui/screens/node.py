"""The node view: facts, checks with remediation, history, health transitions, the upgrade step."""

from __future__ import annotations

from typing import ClassVar

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from fleetctl.tui.data import dashboard, describe_node, refresh_every


class NodeScreen(Screen[None]):
    """One node: facts, checks with remediation, history, health transitions, the upgrade step."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("r", "refresh", "Refresh"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, cluster: str, name: str) -> None:
        super().__init__()
        self.cluster, self.node = cluster, name

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"[b]{escape(self.node)}[/]  ({escape(self.cluster)})", id="title")
            yield Static("loading...", id="details")
        yield Footer()

    def on_mount(self) -> None:
        self._load()
        if every := refresh_every(dashboard(self)):  # every view refreshes itself (0: never)
            self.set_interval(every, self._load)

    def action_refresh(self) -> None:
        """Read the node again."""
        self._load()

    @work(thread=True, exclusive=True, group="node")
    def _load(self) -> None:
        text = describe_node(dashboard(self).store, self.cluster, self.node)
        self.app.call_from_thread(self.query_one("#details", Static).update, text)
