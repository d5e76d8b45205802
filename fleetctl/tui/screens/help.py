"""The dashboard's k9s-style aids: ``?`` lists every key of the current view, ``:`` is a command
line (``:nodes``, ``:upgrades``, ``:releases``, ``:node NAME``, ``:q``), and ``g`` reopens the guide.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.markup import escape
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Input, Static

COMMANDS = ("nodes", "upgrades", "releases", "node", "q")


def keys_of(app: App[Any], screen: Screen[Any]) -> list[tuple[str, str]]:
    """Every key the view answers (its widgets', its own, the app's), as (key, what it does)."""
    seen: dict[str, tuple[str, str]] = {}
    for active in screen.active_bindings.values():
        binding = active.binding
        if not binding.description or binding.action in seen:
            continue
        seen[binding.action] = (app.get_key_display(binding), binding.description)
    return sorted(seen.values(), key=lambda kv: (len(kv[0]) > 1, kv[0]))


class HelpScreen(ModalScreen[None]):
    """The keys of the view beneath it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def __init__(self, view: str, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.view, self.keys = view, keys

    def compose(self) -> ComposeResult:
        width = max((len(k) for k, _ in self.keys), default=1)
        lines = [f"[b]{escape(k.ljust(width))}[/]  {escape(what)}" for k, what in self.keys]
        with Vertical():
            yield Static(f"[b]keys: {escape(self.view)}[/]   (escape closes)", id="help-title")
            yield Static("\n".join(lines), id="help-keys")


class GuideScreen(ModalScreen[None]):
    """The guided steps, to read again while the fleet keeps running; ``c`` copies the commands."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,g,q", "dismiss", "Close"),
        Binding("c", "copy", "Copy the commands"),
    ]

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("[b]the guided demo[/]   (c copies the commands; escape closes; g reopens)")
            yield Static(escape(self.text), id="guide-text")

    def action_copy(self) -> None:
        """Put every command of the guide on the clipboard (the terminal's, through OSC 52)."""
        steps = [line.split(maxsplit=1)[1] for line in self.text.splitlines() if line.strip()[:2] in _NUMBERED]
        commands = [s.split("    #")[0].strip() for s in steps if "fleetctl " in s]
        self.app.copy_to_clipboard("\n".join(commands))
        self.app.notify(f"{len(commands)} commands copied")


_NUMBERED = {f"{i}." for i in range(1, 10)}


@dataclass(frozen=True)
class Command:
    """A parsed ``:`` command."""

    verb: str
    argument: str = ""


class CommandError(ValueError):
    """A ``:`` command the dashboard does not know, with the closest one it does."""


def parse_command(text: str) -> Command:
    """``nodes``, ``upgrades``, ``releases``, ``node NAME`` or ``q`` (a leading ``:`` is allowed)."""
    words = text.strip().lstrip(":").split()
    if not words:
        raise CommandError("type a command: :nodes, :upgrades, :releases, :node NAME or :q")
    verb, rest = words[0].lower(), words[1:]
    aliases = {"no": "nodes", "up": "upgrades", "rel": "releases", "quit": "q"}
    verb = aliases.get(verb, verb)
    if verb not in COMMANDS:
        close = difflib.get_close_matches(verb, COMMANDS, n=1)
        guess = f"; did you mean :{close[0]}?" if close else ""
        raise CommandError(f"unknown command :{words[0]}{guess} (:nodes, :upgrades, :releases, :node NAME, :q)")
    if verb == "node" and len(rest) != 1:
        raise CommandError(":node takes one node name, such as :node kata-s390x-0001")
    if verb != "node" and rest:
        raise CommandError(f":{verb} takes no argument")
    return Command(verb, rest[0] if rest else "")


class CommandLine(ModalScreen[str | None]):
    """A one-line prompt at the bottom, as k9s's ``:``."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        yield Input(placeholder=":nodes  :upgrades  :releases  :node NAME  :q   (enter runs, escape cancels)")

    def action_cancel(self) -> None:
        """Close without running anything."""
        self.dismiss(None)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)
