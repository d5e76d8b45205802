"""The cost of a ``/metrics`` scrape of ``fleetctl serve`` on a 10,000-node store.

A scrape is what serve's handler does: ``Metrics.render``, the daemon's registry and the fleet
series, read fresh from the store (the cache is cleared before each scrape, so every
figure is a cold read). The baseline, in the same run, is a ``db info``-sized read: one
short read transaction counting the rows of every table, the least a scrape that reads the
store at all can cost. Targets (issue 22): with per-node series, at most 1 s and 5 MB; with
``[metrics] per_node = false``, at most 50 ms.

Run: .venv/bin/python benchmarks/bench_metrics.py [--nodes N] [--runs R] [--json]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _common import Result, done, progress, report, timed
from gen_store import generate

from fleetctl.serve.metrics import Metrics
from store.migrate import open_store
from store.stats import table_counts

TARGET_S = {True: 1.0, False: 0.050}
TARGET_BYTES = 5_000_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fleetctl-bench-metrics-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'fleet.db'}"
        progress(f"generating a {args.nodes}-node store...")
        generate(url, nodes=args.nodes, days=1)
        with open_store(url) as store:

            def db_info() -> None:
                with store.read() as session:
                    table_counts(session)

            progress("baseline: a db info read...")
            baseline = timed(db_info, args.runs)
            results = []
            for per_node in (True, False):
                metrics = Metrics(store, per_node=per_node, cache_s=30)
                sizes: list[int] = []

                def scrape(metrics: Metrics = metrics, sizes: list[int] = sizes) -> None:
                    metrics.fleet.clear_cache()
                    sizes.append(len(metrics.render()))

                progress(f"scraping with per_node = {str(per_node).lower()}...")
                seconds = timed(scrape, args.runs)
                label = "per-node series on" if per_node else "per_node = false"
                results.append(
                    Result(
                        f"scrape, {label} ({args.nodes} nodes)", seconds, "s", f"<= {TARGET_S[per_node]:g} s",
                        baseline=baseline, baseline_name="db info read", ok=seconds <= TARGET_S[per_node],
                    )
                )  # fmt: skip
                if per_node:
                    results.append(
                        Result(
                            f"scrape size, {label}", sizes[-1] / 1e6, "MB", f"<= {TARGET_BYTES / 1e6:g} MB",
                            ok=sizes[-1] <= TARGET_BYTES,
                        )
                    )  # fmt: skip
            cached = Metrics(store, per_node=True, cache_s=3600)
            cached.render()
            progress("a scrape within the collection interval...")
            results.append(
                Result(
                    "scrape within the interval (cached)", timed(cached.render, args.runs),
                    "s", "-", baseline=baseline, baseline_name="db info read",
                )
            )  # fmt: skip
        done()
    return report(f"/metrics scrape cost ({args.nodes} nodes)", results, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
