"""Session-wide real components (PostgreSQL now; the simulator and Prometheus later) and store fixtures."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, settings

from simulator.server import ServerOptions, Simulator
from store.engine import Store
from store.migrate import open_store
from tests.support.postgres import postgres_server
from tests.support.prometheus import prometheus_server

_db_numbers = itertools.count()

# No test depends on the machine's speed: Hypothesis' per-example deadline (200 ms) and its "too slow"
# health check would fail a property on a loaded machine, so neither applies anywhere in the suite.
settings.register_profile("fleetctl", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("fleetctl")


@pytest.fixture(scope="session")
def pg_base_url() -> Iterator[str]:
    """The base URL of the session's PostgreSQL server, with a migrated template database."""
    with postgres_server() as base:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS fleetctl_template")
            conn.execute("CREATE DATABASE fleetctl_template")
        open_store(f"{base}/fleetctl_template").close()
        yield base


@pytest.fixture
def pg_url(pg_base_url: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for one test (copied from the template)."""
    name = f"fleetctl_test_{os.getpid()}_{next(_db_numbers)}"
    with psycopg.connect(f"{pg_base_url}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE fleetctl_template")
    yield f"{pg_base_url}/{name}"
    with psycopg.connect(f"{pg_base_url}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A new, migrated SQLite store in the test's temporary directory (as ``db upgrade`` makes it)."""
    url = f"sqlite:///{tmp_path / 'fleetctl.db'}"
    open_store(url).close()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh database URL, once for SQLite and once for PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated store on each backend."""
    s = open_store(db_url)
    yield s
    s.close()


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the developer's real store, config or kubeconfig."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.delenv("FLEETCTL_DB", raising=False)
    monkeypatch.delenv("FLEETCTL_CONFIG", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("KUBECACHEDIR", str(home / "kube-cache"))  # kubectl's discovery cache


# -- the simulator -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sim_small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    """A read-mostly small fleet shared by the session. Tests that change it must undo or use ``fresh_sim``."""
    options = ServerOptions(
        profile="small", seed=7, time_scale=20, out_dir=tmp_path_factory.mktemp("sim-small"), bookmark_seconds=0.3
    )
    with Simulator(options) as sim:
        yield sim


@pytest.fixture
def fresh_sim(tmp_path: Path) -> Iterator[Simulator]:
    """A small fleet of this test's own, fast time (x50), for tests that change the world."""
    options = ServerOptions(
        profile="small", seed=11, time_scale=50, out_dir=tmp_path / "sim", bookmark_seconds=0.3, churn=False
    )
    with Simulator(options) as sim:
        yield sim


@pytest.fixture(scope="session")
def prometheus_small(sim_small: Simulator) -> Iterator[str]:
    """A real Prometheus scraping ``sim_small``'s kata-monitor targets every second."""
    with prometheus_server(sim_small.targets) as url:
        yield url


@pytest.fixture
def prometheus_fresh(fresh_sim: Simulator) -> Iterator[str]:
    """A real Prometheus of this test's own, scraping ``fresh_sim`` every second."""
    with prometheus_server(fresh_sim.targets) as url:
        yield url
