"""Fixtures of the dashboard tests: a store the collector filled from a fresh simulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from simulator.server import Simulator
from store.engine import Store
from store.migrate import open_store
from tests.support.cli import fleetctl_in_process as fleetctl


@pytest.fixture
def store(fresh_sim: Simulator, sqlite_url: str) -> Iterator[Store]:
    assert fleetctl("--kubeconfig", str(fresh_sim.kubeconfig), "--db", sqlite_url, "collect").returncode == 0
    with open_store(sqlite_url) as s:
        yield s
