"""On-call query latency: ten canonical questions on a 10,000-node store with 90 days of history.

For each question, on SQLite and on PostgreSQL, it reports:
- p50 and p95 of ``read_nodes`` (what ``fleetctl nodes --where`` runs: one compiled query, the
  nodes' worst health, and the rows turned into items);
- the ratio to the same question written by hand in SQL, fetching the same rows the same way.

Targets (issue 5): p95 <= 100 ms, and a ratio <= 2. The store comes from gen_store.py.
Run: .venv/bin/python benchmarks/bench_queries.py [--nodes N] [--days D] [--runs R] [--json]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import sqlalchemy as sa
from _common import ROOT, Result, done, progress, report
from gen_store import generate

from store.migrate import open_store
from store.query.reading import read_nodes

sys.path.insert(0, str(ROOT))
from tests.support.postgres import postgres_server  # the same throwaway server the tests use

SELECT = (
    "SELECT n.*, s.*, c.* FROM node n JOIN node_state s ON s.node_id = n.id JOIN cluster c ON c.id = n.cluster_id "
    "WHERE n.gone_at IS NULL AND "
)
WORST = (
    "SELECT node_id, MAX(CASE status WHEN 'crit' THEN 3 WHEN 'warn' THEN 2 WHEN 'unknown' THEN 1 ELSE 0 END) "
    "FROM health_check WHERE node_id IN ({ids}) GROUP BY node_id"
)
RANK = "COALESCE((SELECT MAX(CASE h.status WHEN 'crit' THEN 3 WHEN 'warn' THEN 2 WHEN 'unknown' THEN 1 ELSE 0 END) FROM health_check h WHERE h.node_id = n.id), 1)"


def questions(dialect: str) -> list[tuple[str, str]]:
    """(query language, the same question in hand-written SQL)."""
    label = (
        "json_extract(s.labels, '$.\"topology.kubernetes.io/zone\"')"
        if dialect == "sqlite"
        else "(s.labels ->> 'topology.kubernetes.io/zone')"
    )
    drift = "json_array_length(s.drift) > 0"
    day = (datetime.now(UTC) - timedelta(hours=24)).strftime("%Y-%m-%d %H:%M:%S")
    return [
        ("arch = s390x and kata < 4.0", "s.arch = 's390x' AND s.kata_version_sort < '00004.00000.00000a00000.0000000'"),
        ("health != ok", f"{RANK} <> 0"),
        ("health = crit", f"{RANK} = 3"),
        (
            "kata = 4.0 and zone = eu-de-1",
            "s.kata_version_sort >= '00004.00000.00000a00000.0000000' AND s.kata_version_sort < '00004.00001.00000a00000.0000000' AND s.zone = 'eu-de-1'",
        ),
        ("custom_kernel", "s.custom_kernel"),
        ("drift or cordoned", f"({drift} OR s.unschedulable)"),
        ("changed within 24h", f"EXISTS (SELECT 1 FROM node_change x WHERE x.node_id = n.id AND x.at >= '{day}')"),
        (
            "check = KATA003",
            "EXISTS (SELECT 1 FROM health_check h WHERE h.node_id = n.id AND h.code = 'KATA003' AND h.status <> 'ok')",
        ),
        (
            'label["topology.kubernetes.io/zone"] = "eu-de-2" and arch = ppc64le',
            f"{label} = 'eu-de-2' AND s.arch = 'ppc64le'",
        ),
        ("name = kata-amd64-04242", "n.name = 'kata-amd64-04242'"),
    ]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(fn: Callable[[], object], runs: int) -> list[float]:
    fn()  # warm caches, as an on-call engineer's second question would
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def bench(url: str, label: str, runs: int) -> list[Result]:
    store = open_store(url)
    results = []
    try:
        for text, where in questions(store.backend):
            progress(f"{label}: {text}")
            product = measure(
                functools.partial(read_nodes, store, where=text, selector=None, now=datetime.now(UTC)), runs
            )

            def by_hand(where: str = where) -> None:
                with store.engine.connect() as conn:
                    rows = conn.execute(sa.text(SELECT + where)).all()
                    ids = ",".join(str(r[0]) for r in rows) or "0"
                    conn.execute(sa.text(WORST.format(ids=ids))).all()

            hand = measure(by_hand, runs)
            p50, p95 = statistics.median(product), percentile(product, 0.95)
            results.append(
                Result(
                    f"{label}: {text}  (p50 {p50 * 1000:.1f} ms)",
                    p95 * 1000,
                    "ms p95",
                    "p95 <= 100 ms, ratio <= 2",
                    percentile(hand, 0.95) * 1000,
                    "hand-written SQL, p95",
                    p95 <= 0.100 and p95 / max(percentile(hand, 0.95), 1e-9) <= 2.0,
                )
            )
    finally:
        store.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-queries-"))
    results: list[Result] = []
    try:
        sqlite_url = f"sqlite:///{work / 'fleet.db'}"
        progress("generating the SQLite store...")
        generate(sqlite_url, nodes=args.nodes, days=args.days)
        results += bench(sqlite_url, "sqlite", args.runs)
        with postgres_server() as base:
            with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
                conn.execute("CREATE DATABASE bench_queries")
            pg_url = f"{base}/bench_queries"
            progress("generating the PostgreSQL store...")
            generate(pg_url, nodes=args.nodes, days=args.days)
            results += bench(pg_url, "postgresql", args.runs)
    finally:
        done()
    return report("bench_queries", results, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
