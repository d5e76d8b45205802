"""Many clusters: 20 simulated clusters of 500 nodes, collected at once and one by one.

Measures, against the same simulators in the same run:
- `fleetctl collect --all-contexts` (clusters collected concurrently, `--parallel`, default 8);
- each cluster collected alone, one after another: the slowest of them is the baseline, and their
  sum is what collecting one by one costs.

Target (issue 21): all at once <= 1.5x the slowest single cluster. The simulators run on the same
machine as the collector, so on a machine with few cores they compete with it for CPU: the ratio
then says what the cores allow, not only what fleetctl does.
Run: .venv/bin/python benchmarks/bench_many.py [--clusters N] [--nodes N] [--parallel N] [--json]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from _common import Result, done, progress, report

FLEETCTL = Path(sys.executable).parent / "fleetctl"


def start(clusters: int, nodes: int, work: Path) -> tuple[list[subprocess.Popen[str]], Path]:
    """Start the simulators; return them and one kubeconfig naming every one."""
    procs, merged = [], {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}
    for i in range(clusters):
        out = work / f"c{i:02d}"
        cmd = [sys.executable, "-m", "simulator", "--profile", "large", "--nodes", str(nodes), "--seed", str(i)]
        cmd += ["--cluster-name", f"c{i:02d}", "--out-dir", str(out)]
        out.mkdir(parents=True)
        with (out / "log").open("w") as log:  # a file, never a pipe nobody drains
            procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True))
    for i, proc in enumerate(procs):
        progress(f"starting simulators: {i}/{clusters} serving")
        log = work / f"c{i:02d}" / "log"
        while "press Ctrl-C" not in log.read_text():
            if proc.poll() is not None:
                raise RuntimeError(f"simulator c{i:02d} exited before serving: {log.read_text()[-500:]}")
            time.sleep(0.2)
        config = yaml.safe_load((work / f"c{i:02d}" / "kubeconfig").read_text())
        for key in ("clusters", "users", "contexts"):
            merged[key] += config[key]
    merged["current-context"] = "c00"
    path = work / "kubeconfig"
    path.write_text(yaml.safe_dump(merged))
    return procs, path


def collect(kubeconfig: Path, db: Path, args: list[str], env: dict[str, str]) -> float:
    """One `fleetctl collect`; its wall time."""
    base = [str(FLEETCTL), "--kubeconfig", str(kubeconfig), "--db", f"sqlite:///{db}"]
    subprocess.run([*base, "db", "upgrade"], check=True, capture_output=True, env=env)
    started = time.perf_counter()
    result = subprocess.run([*base, "collect", *args], capture_output=True, text=True, env=env)
    took = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"collect {' '.join(args)} failed: {result.stderr[-500:]}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=20)
    parser.add_argument("--nodes", type=int, default=500, help="nodes per cluster")
    parser.add_argument("--parallel", type=int, default=8, help="collect --parallel")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-many-"))
    env = {**os.environ, "XDG_DATA_HOME": str(work / "data"), "XDG_CONFIG_HOME": str(work / "config")}
    procs, kubeconfig = start(args.clusters, args.nodes, work)
    results: list[Result] = []
    try:
        singles = []
        for i in range(args.clusters):
            progress(f"one by one: cluster {i + 1} of {args.clusters}")
            singles.append(collect(kubeconfig, work / f"alone-{i}.db", ["--context", f"c{i:02d}"], env))
        progress(f"all {args.clusters} at once...")
        together = collect(kubeconfig, work / "all.db", ["--all-contexts", "--parallel", str(args.parallel)], env)
        slowest = max(singles)
        results += [
            Result(
                f"{args.clusters} clusters x {args.nodes} nodes, --all-contexts --parallel {args.parallel}",
                together, "s", "ratio <= 1.5", slowest, "the slowest cluster alone", together / slowest <= 1.5,
            ),
            Result("the same clusters one by one", sum(singles), "s", "-", together, "all at once"),
            Result("the fastest cluster alone", min(singles), "s", "-", slowest, "the slowest"),
        ]  # fmt: skip
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=60)
        done()
    return report("bench_many", results, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
