"""Collector at scale: the `large` profile (10,000 nodes, about 220,000 pods) into SQLite.

Measures, against the same simulator in the same run:
- a full `fleetctl collect` into a new SQLite store: wall time and the collector's peak RSS;
- the ratio to `kubectl get nodes,pods -A -o json > /dev/null` (the baseline);
- an unchanged re-collection as a fraction of the full one: the second round of `collect --watch`
  (nodes kept by a watch, pods summarised every tenth round) against its own first, full round.

Targets (issue 4): ratio <= 2.0, peak RSS <= 600 MB, re-collection <= 25% of a full one.
Run: .venv/bin/python benchmarks/bench_collect.py [--nodes N] [--json]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import Result, done, progress, report
from bench_simulator import KUBECTL, Sim

FLEETCTL = Path(sys.executable).parent / "fleetctl"


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run ``cmd`` with output discarded; return (wall seconds, peak RSS in MB) of that process alone."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(
            f"{' '.join(cmd[:3])}... failed: {proc.stderr.read().decode()[-500:] if proc.stderr else ''}"
        )
    return wall, usage.ru_maxrss / 1024


def watch_rounds(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run ``collect --watch`` for two rounds; return the seconds each round reported."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    seconds: list[float] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        if "nodes," in line and line.rstrip().endswith("s"):
            seconds.append(float(line.rsplit(";", 1)[1].strip().rstrip("s")))
            if len(seconds) == 2:
                break
    proc.terminate()
    proc.wait(timeout=60)
    if len(seconds) < 2:
        raise RuntimeError("collect --watch did not report two rounds")
    return seconds[0], seconds[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, help="node count (default: the large profile's 10,000)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    progress("starting the large simulator...")
    sim = Sim(args.nodes)
    work = Path(tempfile.mkdtemp(prefix="bench-collect-"))
    env = {**os.environ, "XDG_DATA_HOME": str(work / "data"), "XDG_CONFIG_HOME": str(work / "config")}
    results: list[Result] = []
    try:
        progress("baseline: kubectl get nodes,pods -A -o json...")
        kubectl, _ = run_measured(
            [
                str(KUBECTL),
                "--kubeconfig",
                str(sim.kubeconfig),
                "--cache-dir",
                str(work / "kube-cache"),
                "get",
                "nodes,pods",
                "-A",
                "-o",
                "json",
            ]
        )
        db = f"sqlite:///{work / 'fleet.db'}"
        base = [str(FLEETCTL), "--kubeconfig", str(sim.kubeconfig), "--db", db]
        subprocess.run([*base, "db", "upgrade"], check=True, capture_output=True, env=env)
        progress("full collection...")
        full, rss = run_measured([*base, "collect"], env=env)
        progress("re-collection of the unchanged fleet (collect --watch rounds)...")
        first, again = watch_rounds([*base, "collect", "--watch", "--interval", "3s"], env)
        results.append(
            Result(
                "full collection into SQLite",
                full,
                "s",
                "ratio <= 2.0",
                kubectl,
                "kubectl get nodes,pods -A -o json",
                full / kubectl <= 2.0,
            )
        )
        results.append(Result("collector peak RSS", rss, "MB", "<= 600 MB", None, "", rss <= 600))
        results.append(
            Result(
                "re-collection, nothing changed (watch round 2)",
                again,
                "s",
                "<= 25% of full",
                first,
                "watch round 1, a full list",
                again / first <= 0.25,
            )
        )
        oneshot, _ = run_measured([*base, "collect"], env=env)
        results.append(
            Result("one-shot re-collection (relists everything)", oneshot, "s", "-", full, "the full collection")
        )
    finally:
        sim.stop()
        done()
    return report("bench_collect", results, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
