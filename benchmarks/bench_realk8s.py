"""fleetctl against the real control plane (kube-apiserver, etcd, controller-manager, scheduler).

- The control plane's start (to /readyz and a working controller-manager), and its peak RSS
  per component over the whole run.
- ``fleetctl collect`` of 1,000 nodes and about 20,000 pods against the honest floor: ``kubectl
  get --raw`` of exactly the lists the collector asked for (read from the API server's audit log
  of that collection), one after another, in the same run.
- A 100-node rollout (``disableEviction``: the executor's own overhead) against its ideal, the
  sum over waves of the slowest node's install+verify, as in bench_upgrades.

Run: .venv/bin/python benchmarks/bench_realk8s.py [--nodes N] [--rollout N] [--time-scale X] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from _common import ROOT, Result, done, ideal_rollout, progress, report

from simulator.server import ServerOptions, Simulator
from store.migrate import open_store
from store.runs import read_run
from upgrades.plandoc import plan_doc

KUBECTL = Path(sys.executable).parent / "kubectl"
FLEETCTL = [sys.executable, "-m", "fleetctl"]


def _collected_lists(audit: Path, since: int) -> list[str]:
    """The list URIs the admin asked for after line ``since`` of the audit log."""
    uris = []
    for line in audit.read_text().splitlines()[since:]:
        event = json.loads(line)
        admin = (event.get("user") or {}).get("username") == "fleetctl-admin"
        if event.get("stage") == "ResponseComplete" and event.get("verb") == "list" and admin:
            uris.append(str(event["requestURI"]))
    return uris


def bench_collect(sim: Simulator, work: Path) -> list[Result]:
    assert sim.kube is not None
    audit = sim.kube.plane.audit_log
    since = len(audit.read_text().splitlines())
    db = f"sqlite:///{work / 'collect.db'}"
    progress(f"fleetctl collect of {len(sim.world.nodes)} nodes on the real API server...")
    began = time.perf_counter()
    subprocess.run(
        [*FLEETCTL, "--kubeconfig", str(sim.kubeconfig), "--db", db, "collect"], check=True, capture_output=True
    )
    collect = time.perf_counter() - began
    uris = _collected_lists(audit, since)
    progress(f"kubectl get --raw of the same {len(uris)} lists...")
    began = time.perf_counter()
    size = 0
    for uri in uris:
        out = subprocess.run(
            [str(KUBECTL), "--kubeconfig", str(sim.kubeconfig), "get", "--raw", uri], check=True, capture_output=True
        )
        size += len(out.stdout)
    raw = time.perf_counter() - began
    pods = sim.world.store.count(__import__("simulator.resources", fromlist=["PODS"]).PODS)
    return [
        Result(f"fleetctl collect, {len(sim.world.nodes)} nodes and {pods} pods (real API server)", collect, "s", "-",
               raw, f"kubectl get --raw of the same {len(uris)} lists ({size / 1e6:.1f} MB)", None),
    ]  # fmt: skip


def bench_rollout(sim: Simulator, work: Path, count: int) -> list[Result]:
    db = f"sqlite:///{work / 'rollout.db'}"
    base = [*FLEETCTL, "--kubeconfig", str(sim.kubeconfig), "--db", db]
    subprocess.run([*base, "collect"], check=True, capture_output=True)
    nodes = [n for n, t in sorted(sim.world.nodes.items()) if t.installed != "4.1.0"][:count]
    spec = {
        "target": "4.1.0", "selector": {"where": "name in (" + ", ".join(nodes) + ")"},
        "waves": {"sizes": [1, "10%", "25%"], "maxUnavailable": "30%"}, "gates": {"enabled": False},
        "drain": {"timeout": "120s", "onTimeout": "skip", "disableEviction": True}, "safety": {"minHealthyPercent": 0},
    }  # fmt: skip
    plan = work / "plan.yaml"
    plan.write_text(yaml.safe_dump(plan_doc("bench-realk8s", spec)))
    progress(f"rolling out {len(nodes)} nodes on the real control plane...")
    result = subprocess.run(
        [*base, "upgrade", "apply", str(plan), "--yes", "--poll", "0.05s"], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"the rollout failed: {result.stdout[-500:]} {result.stderr[-1000:]}")
    with open_store(db) as store:
        view = read_run(store, 1)
    assert view.run.started_at and view.run.finished_at
    actual = (view.run.finished_at - view.run.started_at).total_seconds()
    ideal = ideal_rollout(view, "install", "verify")
    upgraded = sum(1 for s in view.steps if s.state == "done")
    return [
        Result(f"rollout of {upgraded} nodes in {len(view.waves)} waves (real control plane, disableEviction)", actual,
               "s", "-", ideal, "ideal: slowest install+verify per wave", None),
    ]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--rollout", type=int, default=100)
    parser.add_argument("--time-scale", type=float, default=10.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-realk8s-"))
    options = ServerOptions(
        profile="large", nodes=args.nodes, seed=5, time_scale=args.time_scale, backend="kube-apiserver",
        out_dir=work / "sim", churn=False,
    )  # fmt: skip
    sys.path.insert(0, str(ROOT))
    try:
        progress(f"starting the control plane and populating {args.nodes} nodes...")
        with Simulator(options) as sim:
            assert sim.kube is not None
            plane = sim.kube.plane
            results = [
                Result("control plane start (etcd, kube-apiserver to /readyz, controllers working)", plane.started_seconds,
                       "s", "-"),
                Result(f"populating {args.nodes} nodes through the API (after the start)",
                       sim.startup_seconds - plane.started_seconds, "s", "-"),
            ]  # fmt: skip
            results += bench_collect(sim, work)
            results += bench_rollout(sim, work, args.rollout)
            for name, rss in sorted(plane.peak_rss_bytes().items()):
                results.append(Result(f"peak RSS of {name}", rss / 1e6, "MB", "-"))
    finally:
        done()
    return report("bench_realk8s", results, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
