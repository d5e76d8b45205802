"""The in-memory simulator measured against the real API server: fleetctl's, kubectl's and kr8s's
requests to the real control plane, replayed against an in-memory simulator of the same fleet."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import kr8s
import pytest

from simulator.server import ServerOptions, Simulator
from tests.support.fidelity import KNOWN, audit_requests, replay
from tests.support.fleet import FLEETCTL
from tests.support.sim import kubectl

pytestmark = pytest.mark.xdist_group("kube")


def _options(tmp: Path, backend: str) -> ServerOptions:
    return ServerOptions(
        profile="small", seed=9, time_scale=20, backend=backend, out_dir=tmp, churn=False, cluster_name="fid"
    )


@pytest.fixture(scope="module")
def twins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Simulator, Simulator]]:
    """The same fleet on a real control plane and in memory."""
    with (
        Simulator(_options(tmp_path_factory.mktemp("real"), "kube-apiserver")) as real,
        Simulator(_options(tmp_path_factory.mktemp("memory"), "memory")) as memory,
    ):
        yield real, memory


def conversation(sim: Simulator, tmp: Path) -> None:
    """What the three clients ask: a collection, kubectl's everyday commands, kr8s's first calls."""
    collected = subprocess.run([*FLEETCTL, "--kubeconfig", str(sim.kubeconfig), "--db", f"sqlite:///{tmp / 'f.db'}", "collect"],
                               capture_output=True, text=True, timeout=300)  # fmt: skip
    assert collected.returncode == 0, collected.stderr
    node = sorted(sim.world.nodes)[3]
    for args in (
        ("get", "nodes"), ("get", "nodes", "-o", "json"), ("get", "pods", "-A", "-l", "name=kata-deploy", "-o", "json"),
        ("get", "ds", "-A"), ("get", "pdb", "-A", "-o", "json"), ("describe", "node", node), ("auth", "can-i", "patch", "nodes"),
        ("auth", "whoami"), ("create", "namespace", "fidelity"), ("get", "namespace", "fidelity", "-o", "json"),
        ("drain", node, "--dry-run=server", "--ignore-daemonsets", "--delete-emptydir-data"), ("get", "crd"),
    ):  # fmt: skip
        result = kubectl(sim, *args)
        assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"

    async def kr8s_calls() -> None:
        api = await kr8s.asyncio.api(kubeconfig=str(sim.kubeconfig))
        assert (await api.version())["major"] == "1"
        assert len([n async for n in api.get("nodes")]) == len(sim.world.nodes)
        assert [p async for p in api.get("pods", namespace="kube-system", label_selector={"name": "kata-deploy"})]

    asyncio.run(kr8s_calls())


@pytest.mark.filterwarnings("ignore:Kubernetes version v1.37:UserWarning")  # kr8s 0.20 knows versions up to 1.35
def test_the_in_memory_backend_answers_as_the_real_api_server(
    twins: tuple[Simulator, Simulator], tmp_path: Path
) -> None:
    real, memory = twins
    assert real.kube is not None
    conversation(real, tmp_path)
    events = audit_requests(real.kube.plane.audit_log)
    count, differences = replay(events, memory)
    unexplained = [d for d in differences if d.key() not in KNOWN]
    assert count >= 30, count
    assert not unexplained, "\n".join(
        f"{d.request}: {d.what}: real {d.real!r}, in-memory {d.memory!r}" for d in unexplained
    )
