"""The real-control-plane tier: the product against kube-apiserver, etcd, the controller-manager and the
scheduler (built from tools/k8s), with the simulator's world playing the nodes on it.

One control plane per test session (per xdist worker; every module here is in the ``kube``
xdist group, so one worker runs them all, with ``--dist loadgroup``). Without Go and without ``$FLEETCTL_K8S_ASSETS`` the tier
fails at its first test with what to install: it is never skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from simulator.server import ServerOptions, Simulator
from tests.support.prometheus import prometheus_server

TIER_NODES = 48


@pytest.fixture(scope="session")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    """The simulated fleet (48 nodes, time x20) on a real control plane, for the whole session."""
    options = ServerOptions(
        profile="small", nodes=TIER_NODES, seed=5, time_scale=20, backend="kube-apiserver",
        out_dir=tmp_path_factory.mktemp("kube"), churn=False, cluster_name="kube",
        lean_metrics=True,  # the tier's gates and health read these; the full set's fidelity is tests/simulator's
    )  # fmt: skip
    with Simulator(options) as sim:
        yield sim


@pytest.fixture(scope="session")
def kube_prometheus(kube: Simulator) -> Iterator[str]:
    """A real Prometheus scraping the tier's kata-monitor targets."""
    with prometheus_server(kube.targets) as url:
        yield url
