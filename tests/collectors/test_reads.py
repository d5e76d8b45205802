"""The collector reads only what it needs, and its facts are the same as from listing every pod."""

from __future__ import annotations

from pathlib import Path

from clients.kube.client import KubeClient
from clients.kube.config import open_contexts
from collectors.inventory.collector import RetryPolicy, _Retrier, gather_facts
from collectors.releases.catalog import kernel_pins
from simulator.server import ServerOptions, Simulator
from store.migrate import open_store
from tests.support.fullpods import reference_facts


def test_seed_profile_facts_match_a_read_of_every_pod(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/fleet.db")
    try:
        pins = kernel_pins(store)
        with Simulator(ServerOptions(profile="seed", out_dir=tmp_path / "seed", churn=False)) as sim:
            client = KubeClient(open_contexts(sim.kubeconfig)[0])
            facts, _ = gather_facts(client, pins, _Retrier(RetryPolicy(base=0.01, cap=0.05)))
            reference = reference_facts(client, pins)
        got = {f.name: f for f in facts}
        assert len(got) == 400 and set(got) == set(reference)
        differ = {name: (got[name], reference[name]) for name in got if got[name] != reference[name]}
        assert not differ, f"{len(differ)} nodes differ, e.g. {next(iter(differ.items()))}"
        assert sum(1 for f in got.values() if f.kata_pods) > 300  # the fleet runs Kata pods: the fold is exercised
        assert any(f.caa_version for f in got.values()) and any(f.peerpod_count for f in got.values())
    finally:
        store.close()
