"""A plan file's document shape, cheap to import (the CLI's start-up and the demo's plans use it)."""

from __future__ import annotations

from typing import Any

API_VERSION = "fleetctl.io/v1"
KIND = "UpgradePlan"


def plan_doc(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """A plan file's document: this apiVersion and kind, ``name``, and ``spec`` as given."""
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name}, "spec": spec}
