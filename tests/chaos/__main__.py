"""``make chaos``: the seed fleet's rollout broken on purpose; prints the invariants, exit 1 if one fails.

Run: .venv/bin/python -m tests.chaos [--profile seed|small] [--db URL] [--time-scale 20] [--seed N] [--json FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tests.chaos.harness import Chaos, ChaosConfig, dump


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="seed", choices=("seed", "small"))
    parser.add_argument("--db", help="a PostgreSQL URL to run against (default: SQLite in a temporary directory)")
    parser.add_argument("--time-scale", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=3, help="the fleet's and the chaos's random seed")
    parser.add_argument("--outage", type=float, default=60.0, help="seconds Prometheus stays down")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()
    config = ChaosConfig(
        profile=args.profile, seed=args.seed, time_scale=args.time_scale, db=args.db, prometheus_outage_s=args.outage
    )
    report = Chaos(config).run()
    print("chaos: " + ("every invariant held" if report.ok else "INVARIANTS BROKEN"))
    print("\n".join(report.lines()))
    if args.json:
        args.json.write_text(dump(report))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
