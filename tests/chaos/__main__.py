"""``make chaos``: the seed fleet's rollout broken on purpose; prints the invariants, exit 1 if one fails.

Run: .venv/bin/python -m tests.chaos [--profile seed|small] [--db URL|postgresql] [--time-scale 20] [--seed N]
[--json FILE]. ``--db postgresql`` starts a throwaway PostgreSQL server, as the tests do.
Exit codes: 0 every invariant held; 1 an invariant broke; 2 a safety deadline fired (a harness problem).
"""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from pathlib import Path

import psycopg

from tests.chaos.harness import Chaos, ChaosConfig, dump
from tests.support.postgres import postgres_server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="seed", choices=("seed", "small"))
    parser.add_argument(
        "--db",
        help="a PostgreSQL URL to run against, or 'postgresql' for a throwaway server (default: SQLite in a temp dir)",
    )
    parser.add_argument("--time-scale", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=3, help="the fleet's and the chaos's random seed")
    parser.add_argument("--outage", type=float, default=60.0, help="seconds Prometheus stays down, at least")
    parser.add_argument("--phase-deadline", type=float, default=1200.0, help="each phase's safety net, in seconds")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()
    with ExitStack() as stack:
        db = args.db
        if db in ("postgresql", "postgres"):
            base = stack.enter_context(postgres_server())
            with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
                conn.execute("CREATE DATABASE fleetctl_chaos")
            db = f"{base}/fleetctl_chaos"
        config = ChaosConfig(
            profile=args.profile, seed=args.seed, time_scale=args.time_scale, db=db, prometheus_outage_s=args.outage,
            phase_deadline_s=args.phase_deadline,
        )  # fmt: skip
        report = Chaos(config).run()
    verdict = "every invariant held" if report.ok else "INVARIANTS BROKEN"
    if report.harness:
        verdict += "; a safety deadline fired (a harness problem, see [HARNESS])"
    print("chaos: " + verdict)
    print("\n".join(report.lines()))
    if args.json:
        args.json.write_text(dump(report))
    return 1 if not report.ok else 2 if report.harness else 0


if __name__ == "__main__":
    sys.exit(main())
