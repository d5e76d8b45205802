"""How well ``fleetctl rehearse`` predicts a real rollout, and what it costs.

On the ``seed`` fleet (one zone, about 130 nodes, with its build pods and PodDisruptionBudgets),
the plan is rehearsed (x20, the default), then applied for real (x10). Compared in the same run:
- the rehearsal's predicted duration against the real rollout's, both in fleet time (real
  seconds times each simulator's scale);
- the waves it predicted against those the apply carried out (1.0: the same nodes, in the same
  waves);
- the rehearsal's wall time against the real rollout's.

Run: .venv/bin/python benchmarks/bench_rehearsal.py [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from _common import ROOT, Result, done, progress, report

from simulator.server import ServerOptions, Simulator
from store.migrate import open_store
from store.runs import read_run
from upgrades.plandoc import plan_doc

REAL_SCALE = 10.0
PLAN = plan_doc(
    "bench-rehearsal",
    {
        "target": "4.1.0",
        "selector": {"zones": ["eu-de-1"]},
        "waves": {"sizes": [2, 10, "25%"], "order": "arch-zone", "maxUnavailable": "10%"},
        "drain": {"timeout": "10m", "onTimeout": "skip"},
        "gates": {"enabled": False},
        "failureBudget": {"perWave": 2, "perRun": "5%"},
    },
)


def bench(work: Path) -> list[Result]:
    plan = work / "plan.yaml"
    plan.write_text(yaml.safe_dump(PLAN))
    db = f"sqlite:///{work / 'fleet.db'}"
    options = ServerOptions(profile="seed", seed=5, time_scale=REAL_SCALE, out_dir=work / "sim")
    with Simulator(options) as sim:
        fleetctl = [sys.executable, "-m", "fleetctl", "--db", db, "--kubeconfig", str(sim.kubeconfig)]
        subprocess.run([*fleetctl, "collect"], check=True, capture_output=True)
        progress("rehearsing...")
        began = time.monotonic()
        rehearsal = subprocess.run([*fleetctl, "rehearse", str(plan), "-o", "json"], capture_output=True, text=True)
        rehearse_wall = time.monotonic() - began
        if rehearsal.returncode != 0:
            raise RuntimeError(f"the rehearsal failed: {rehearsal.stdout[-500:]} {rehearsal.stderr[-1000:]}")
        predicted = json.loads(rehearsal.stdout)
        progress("applying for real...")
        began = time.monotonic()
        applied = subprocess.run(
            [*fleetctl, "upgrade", "apply", str(plan), "--yes", "--poll", "0.2s"], capture_output=True, text=True
        )
        apply_wall = time.monotonic() - began
        if applied.returncode != 0:
            raise RuntimeError(f"the rollout failed: {applied.stdout[-500:]} {applied.stderr[-1000:]}")
    with open_store(db) as store:
        view = read_run(store, 1)
    assert view.run.started_at and view.run.finished_at
    actual = (view.run.finished_at - view.run.started_at).total_seconds() * REAL_SCALE
    waves = [[n["name"] for n in w["nodes"]] for w in predicted["waves"]]
    carried = [[s.node for s in view.wave_steps(w.number)] for w in view.waves]
    same = sum(1 for p, c in zip(waves, carried, strict=False) if sorted(p) == sorted(c)) / max(len(carried), 1)
    nodes = sum(len(w) for w in carried)
    return [
        Result(
            f"predicted rollout duration, {nodes} nodes in {len(carried)} waves (fleet time)",
            float(predicted["predictedSeconds"]), "s", "-", actual, f"the real rollout (x{REAL_SCALE:g})", None,
        ),
        Result("waves predicted as carried out", same, "", "1.0", 1.0, "every wave the same", same == 1.0),
        Result(
            f"rehearsal wall time (x{predicted['timeScale']:g})", rehearse_wall, "s", "-", apply_wall,
            f"the real rollout's wall time (x{REAL_SCALE:g})", None,
        ),
    ]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-rehearsal-"))
    os.chdir(ROOT)
    try:
        results = bench(work)
    finally:
        done()
    return report("bench_rehearsal", results, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
