"""Table cells for the small DataTables (runs, nodes of a run, releases): literal text, never markup.

A node's values come from the fleet, so they must never be parsed as Rich markup; ``Text``
objects are shown as they are, and health is coloured.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

from store.states import RunState, StepState

HEALTH_STYLES = {"crit": Style(color="red", bold=True), "warn": Style(color="yellow"), "unknown": Style(dim=True)}
STATE_STYLES: dict[str, Style] = {
    StepState.FAILED: Style(color="red", bold=True),
    RunState.PAUSED: Style(color="yellow"),
    RunState.DONE: Style(color="green"),
}


def cell(column: str, text: str) -> Text:
    """The cell for a column's text (health and states are coloured)."""
    style = HEALTH_STYLES.get(text) if column == "health" else STATE_STYLES.get(text) if column == "state" else None
    return Text(text, style=style or "")
