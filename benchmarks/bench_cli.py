"""CLI start-up: the wall time of ``fleetctl --version``, ``nodes -o name`` and ``health`` on a 400-node store.

Each figure is the median of ``--runs`` fresh processes, against ``python -c pass`` (the same
interpreter starting and exiting, the floor any Python CLI pays) in the same run, with bytecode
caches written as on a user's machine. The targets
(issue 23) are the time over that baseline: ``--version`` at most 0.15 s, ``nodes`` at most 0.4 s.
``health`` is reported without a target. The store comes from gen_store.py (400 nodes, 7 days).

Run: .venv/bin/python benchmarks/bench_cli.py [--nodes N] [--runs R] [--json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import Result, done, progress, report
from gen_store import generate

FLEETCTL = Path(sys.executable).with_name("fleetctl")
TARGETS_S = {"--version": 0.15, "nodes -o name": 0.4}


# As on a user's machine, Python writes bytecode caches (a CI or container image may have set
# PYTHONDONTWRITEBYTECODE, which would compile fleetctl's own modules on every start).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def wall(cmd: list[str], runs: int) -> float:
    """The median wall time of ``runs`` runs of ``cmd``, which must exit 0 or 1 (findings)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False, env=ENV)
        times.append(time.perf_counter() - start)
        if result.returncode not in (0, 1):
            raise RuntimeError(f"{' '.join(cmd)} exited {result.returncode}: {result.stderr[-500:]}")
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=400)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fleetctl-bench-cli-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'fleet.db'}"
        progress(f"generating a {args.nodes}-node store...")
        generate(url, nodes=args.nodes, days=7)
        for warm in (["health"], ["nodes", "-o", "name"]):  # the page cache, and the bytecode caches, once
            wall([str(FLEETCTL), "--db", url, *warm], 1)
        commands = {
            "--version": [str(FLEETCTL), "--version"],
            "nodes -o name": [str(FLEETCTL), "--db", url, "nodes", "-o", "name"],
            "health": [str(FLEETCTL), "--db", url, "health"],
        }
        progress("python -c pass...")
        baseline = wall([sys.executable, "-c", "pass"], args.runs)
        results = []
        for name, cmd in commands.items():
            progress(f"fleetctl {name}...")
            value = wall(cmd, args.runs)
            target = TARGETS_S.get(name)
            results.append(
                Result(
                    f"fleetctl {name} ({args.nodes} nodes)" if name != "--version" else f"fleetctl {name}",
                    value,
                    "s",
                    f"<= baseline + {target} s" if target is not None else "-",
                    baseline=baseline,
                    baseline_name="python -c pass",
                    ok=None if target is None else value - baseline <= target,
                )
            )
        done()
    return report("CLI start-up", results, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
