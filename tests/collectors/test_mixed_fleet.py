"""A collector run on a simulated fleet that mixes releases, shims and kata-monitor's blind spot.

A 3.20 node, 3.28 nodes, a 4.0 node whose kata-monitor counts no shims while Kata pods run (before 4.1.0 it cannot
see runtime-rs sandboxes, #12666), and 4.1 nodes without the Go shim (no kata-runtime: the reporter
reads kata-ctl on amd64, the shim's --version elsewhere), and 3.24 nodes booting Kata's NVIDIA kernel (judged
against 3.24.0's NVIDIA pin) and its confidential one (no pin known: unknown). Every node gets a release, a kernel
judgement and a health verdict with the right reason. A real Prometheus scrapes the simulated
kata-monitors; the 4.0 node's is blind (the simulator's ``kataMonitorBlind`` fault: 0 running shims).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from clients.kube.client import KubeClient
from clients.kube.config import open_contexts
from clients.prom import PromConfig, PromSource
from collectors.health.collector import check_cluster
from collectors.health.thresholds import Thresholds
from collectors.inventory.collector import RetryPolicy, collect_cluster
from collectors.releases.catalog import kernel_pins
from simulator import kata
from simulator import resources as r
from simulator.faults import Faults
from simulator.fleet import make_fleet
from simulator.prometheus import prometheus_server
from simulator.server import ServerOptions, Simulator
from store.engine import Store
from store.migrate import open_store
from store.models import HealthCheck, Node, NodeState
from tests.support.prometheus import instant
from tests.support.sim import wait_for

BLIND, GO_LESS_S390X, GO_LESS_AMD64 = "kata-amd64-0001", "kata-s390x-0000", "kata-amd64-0002"
OLD = "kata-amd64-0004"  # 3.20.0: the last release with .tar.xz assets, long before the shim split
NVIDIA, CONFIDENTIAL = "kata-amd64-0005", "kata-amd64-0006"  # 3.24.0 with a flavoured kernel
FLAVOURED = {
    NVIDIA: "6.16.7-173-nvidia-gpu",
    CONFIDENTIAL: "6.12.47-173-confidential",
}  # as the sim names custom kernels
RELEASES = {"kata-amd64-0000": "3.28.0", BLIND: "4.0.0", GO_LESS_AMD64: "4.1.0", "kata-amd64-0003": "3.28.0",
            GO_LESS_S390X: "4.1.0", "kata-s390x-0001": "4.0.0", "kata-ppc64le-0000": "4.0.0", OLD: "3.20.0",
            NVIDIA: "3.24.0", CONFIDENTIAL: "3.24.0"}  # fmt: skip


@pytest.fixture
def mixed(tmp_path: Path) -> Iterator[Simulator]:
    fleet = make_fleet("small", seed=11, nodes=12)
    fleet.nodes = [n for n in fleet.nodes if n.name in RELEASES]
    for spec in fleet.nodes:
        spec.release, spec.custom_kernel, spec.peer_pods = RELEASES[spec.name], FLAVOURED.get(spec.name), False
        if spec.name in (GO_LESS_S390X, GO_LESS_AMD64):
            spec.labels = {kata.LABEL_SHIMS: kata.RUNTIME_RS_ONLY}
            spec.builds, spec.apps = 0, []  # its build pods would ask for kata-qemu, which it no longer has
        if spec.name == BLIND:
            spec.builds = max(spec.builds, 2)
    fleet.nodes[0].peer_pods, fleet.nodes[0].builds = True, 6  # half its builds are peer pods
    faults = Faults(kataMonitorBlind=[BLIND])
    with Simulator(ServerOptions(fleet=fleet, churn=False, out_dir=tmp_path / "sim", faults=faults)) as sim:
        yield sim


@pytest.fixture
def store(sqlite_url: str) -> Iterator[Store]:
    s = open_store(sqlite_url)
    yield s
    s.close()


def test_every_node_of_a_mixed_fleet_gets_a_release_a_kernel_judgement_and_a_verdict(
    mixed: Simulator, store: Store
) -> None:
    kube = KubeClient(open_contexts(mixed.kubeconfig)[0])
    assert collect_cluster(kube, store, kernel_pins(store), retry=RetryPolicy(base=0.01)).error is None
    with prometheus_server(mixed.targets) as url:
        scraped = 'count_over_time(up{job="kata-monitor"}[1m]) >= 2'  # the rate() checks need two scrapes
        wait_for(lambda: len(instant(url, scraped)) == len(RELEASES), what="two scrapes of every kata-monitor")
        thresholds = Thresholds(rate_window="15s")
        health = check_cluster(store, "sim", prom=PromSource(PromConfig(url=url), thresholds.rate_window), kube=kube,
                               thresholds=thresholds)  # fmt: skip
    assert health.nodes == len(RELEASES) and not health.query_failures
    with store.read() as s:
        states: dict[str, NodeState] = dict(
            s.exec(select(Node.name, NodeState).join(NodeState, NodeState.node_id == Node.id)).all()
        )  # type: ignore[arg-type, call-overload]
        checks: dict[str, dict[str, HealthCheck]] = {}
        for node_name, check in s.exec(
            select(Node.name, HealthCheck).join(HealthCheck, HealthCheck.node_id == Node.id)
        ).all():  # type: ignore[arg-type, call-overload]
            checks.setdefault(node_name, {})[check.code] = check
    assert {n: st.kata_version for n, st in states.items()} == RELEASES
    kernels = {n: st.guest_kernel for n, st in states.items()}
    assert {n: st.custom_kernel for n, st in states.items()} == {
        n: None if n == CONFIDENTIAL else False for n in RELEASES
    }, kernels
    # Kata's NVIDIA kernel is 3.24.0's NVIDIA pin, so not custom; no confidential pin is known, so unknown
    assert {n: states[n].guest_kernel for n in FLAVOURED} == FLAVOURED
    # 3.20.0's pin (6.12.42-162) is known, so its kernel is judged the release's own, not unknown
    assert (states[OLD].guest_kernel, states[OLD].reporter_source) == ("6.12.42-162", "kata-runtime env")

    def verdicts(node: str) -> dict[str, str]:
        return {c.code: c.status for c in checks[node].values()}

    assert verdicts(OLD) == verdicts("kata-amd64-0003")  # judged as a 3.28 node is: no check is blind to it
    assert set(checks) == set(RELEASES) and all(len(c) == 12 for c in checks.values())
    # the 4.0 node kata-monitor cannot see: unknown, with the reason; never ok
    blind = checks[BLIND]
    assert states[BLIND].kata_pods and blind["KATA006"].status == "unknown" and "#12666" in blind["KATA006"].message
    assert all(blind[c].status == "unknown" for c in ("KATA003", "KATA004", "KATA005"))
    # the other nodes' kata-monitor counts their sandboxes
    assert all(checks[n]["KATA006"].status == "ok" for n in RELEASES if n != BLIND)
    # runtime-rs-only 4.1 nodes: no kata-runtime, the source used is recorded, and the drift stays true
    assert states[GO_LESS_AMD64].reporter_source == "kata-ctl env"
    assert states[GO_LESS_S390X].reporter_source == "containerd-shim-kata-v2 --version"
    assert states["kata-amd64-0000"].reporter_source == "kata-runtime env"
    for n in (GO_LESS_AMD64, GO_LESS_S390X):
        assert states[n].drift == [] and checks[n]["KATA013"].status == "ok" and checks[n]["KATA014"].status == "ok"
    # kata-monitor runs in the kata-deploy release's namespace, and the remediation would say so
    assert {st.kata_monitor_namespace for st in states.values()} == {"kube-system"}
    # peer pods: counted from PeerPod objects; the Cloud API Adaptor release pins a Kata release
    peer = mixed.world.fleet.nodes[0].name
    owners = {key for key, _ in mixed.world.store.scan(r.PEERPODS)}
    on_peer = {(p.obj["metadata"]["namespace"], p.obj["metadata"]["name"]) for p in mixed.world.pods_on(peer)}
    assert states[peer].peerpod_count == len(owners & on_peer) > 0
    assert states[peer].caa_version == "v0.21.0"
    kata015 = checks[peer]["KATA015"]
    assert kata015.status == "warn" and "v0.21.0 expects Kata 3.31.0" in kata015.message
    assert all(checks[n]["KATA015"].status == "ok" for n in RELEASES if n != peer)
