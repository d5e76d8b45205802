"""Table cells that are cheap by the ten thousand and never read as markup."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rich.segment import Segment
from rich.style import Style

HEALTH_STYLES = {"crit": Style(color="red", bold=True), "warn": Style(color="yellow"), "unknown": Style(dim=True)}


class Cell:
    """Plain text in one style. A node's values come from the fleet, so they must never be parsed
    as Rich markup; and with no ``__rich_measure__`` the table skips measuring 100,000 cells
    (its columns get fixed widths from the data instead)."""

    __slots__ = ("style", "text")

    def __init__(self, text: str, style: Style | None = None) -> None:
        self.text, self.style = text, style

    def __rich_console__(self, console: Any, options: Any) -> Iterator[Segment]:
        yield Segment(self.text, self.style)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Cell({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cell) and (self.text, self.style) == (other.text, other.style)

    def __hash__(self) -> int:
        return hash(self.text)


def cell(column: str, text: str) -> Cell:
    """The cell for a column's text (health is coloured)."""
    return Cell(text, HEALTH_STYLES.get(text) if column == "health" else None)
