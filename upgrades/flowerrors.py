"""How a node's flow ends short of done: the exceptions nodeflow and the install mechanisms raise."""

from __future__ import annotations

from store.runs import DrainSummary


class NodeEnded(Exception):
    """The node's flow ends short of done; ``drain`` is what its drain took, when that ended it."""

    def __init__(self, message: str, *, drain: DrainSummary | None = None) -> None:
        super().__init__(message)
        self.drain = drain


class NodeFailed(NodeEnded):
    """The node could not be upgraded; the message says why."""


class NodeSkipped(NodeEnded):
    """The plan's drain policy skips this node."""


class NodeInterrupted(Exception):
    """The executor is shutting down: the node stays at its recorded step."""
