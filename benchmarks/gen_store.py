"""Generate a store shaped like 90 days of collecting a 10,000-node fleet (the query benchmark's input).

What it writes, through the same repository calls the collector uses (``record_snapshot``, ``record_checks``):
- 10,000 nodes (60% amd64, 22.5% s390x, 17.5% ppc64le) in three zones, releases mixed 3.28 to 4.0,
  a custom guest kernel on 15%;
- one snapshot per simulated day for ``--days`` days. Each day about 5% of nodes reboot (a boot_id
  change) and 1% get cordoned or uncordoned. Every 30 days a tenth of the fleet moves one release up
  (release, deploy tag, kernel and handlers change), so the history holds rollouts too;
- ten health checks per node, with about 1% warn, 0.5% crit and 0.5% unknown, and the transitions to get there.

Deterministic for a seed. Run: .venv/bin/python benchmarks/gen_store.py --db sqlite:///fleet.db [--nodes N] [--days D]
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
from datetime import UTC, datetime, timedelta

from _common import done, progress

from store.checks import CheckResult, Status
from store.facts import NodeFacts
from store.health import record_checks
from store.migrate import open_store
from store.snapshots import record_snapshot
from store.versions import KataVersion

RELEASES = ["3.28.0", "3.29.0", "3.30.0", "3.31.0", "3.32.0", "4.0.0", "4.1.0"]
KERNELS = {
    "3.28.0": "6.18.15-186",
    "3.29.0": "6.18.15-189",
    "3.30.0": "6.18.15-192",
    "3.31.0": "6.18.28-194",
    "3.32.0": "6.18.35-197",
    "4.0.0": "6.18.35-200",
    "4.1.0": "6.18.35-202",
}
CODES = ["KATA001", "KATA002", "KATA003", "KATA004", "KATA005", "KATA010", "KATA011", "KATA012", "KATA013", "KATA014"]


def initial_fleet(n: int, rng: random.Random) -> list[NodeFacts]:
    arches = ["amd64"] * 60 + ["s390x"] * 23 + ["ppc64le"] * 17
    fleet = []
    for i in range(n):
        arch = arches[i % 100]
        release = rng.choices(RELEASES[:6], [5, 5, 10, 15, 25, 40])[0]
        custom = rng.random() < 0.15
        fleet.append(
            NodeFacts(
                name=f"kata-{arch}-{i:05d}",
                uid=f"uid-{i}",
                arch=arch,
                zone=f"eu-de-{i % 3 + 1}",
                region="eu-de",
                cpu_capacity=rng.choice([16, 32, 48]) * 1000,
                ready=True,
                host_kernel="6.8.0-85-generic" if arch == "amd64" else f"5.14.0-570.58.1.el9_6.{arch}",
                kubelet_version="v1.33.4",
                container_runtime="containerd://2.0.5",
                boot_id=f"boot-{i}-0",
                kata_label="true",
                hypervisor="qemu",
                hypervisor_version="11.0.1",
                runtime_handlers=("kata-qemu", "kata-qemu-runtime-rs", "runc"),
                labels={"kubernetes.io/arch": arch, "topology.kubernetes.io/zone": f"eu-de-{i % 3 + 1}"},
                **_release(release, custom),
            )
        )
    return fleet


def _release(version: str, custom: bool) -> dict[str, object]:
    return {
        "kata_version": version,
        "kata_version_sort": KataVersion.parse(version).sort_key(),
        "kata_deploy_version": version,
        "guest_kernel": "6.18.30-acme4" if custom else KERNELS[version],
        "custom_kernel": custom,
    }


def checks_for(rng: random.Random) -> list[CheckResult]:
    out = []
    for code in CODES:
        roll = rng.random()
        status = (
            Status.CRIT
            if roll < 0.0005
            else Status.WARN
            if roll < 0.0015
            else Status.UNKNOWN
            if roll < 0.002
            else Status.OK
        )
        out.append(
            CheckResult(
                code,
                status,
                f"{code} is {status.value}",
                value=rng.random() * 100,
                remediation=None if status is Status.OK else "see docs/collectors.md",
            )
        )
    return out


def generate(url: str, *, nodes: int, days: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    store = open_store(url)
    fleet = initial_fleet(nodes, rng)
    start = datetime.now(UTC) - timedelta(days=days)
    try:
        for day in range(days + 1):
            progress(f"day {day}/{days}...")
            at = start + timedelta(days=day)
            if day:
                for i in rng.sample(range(nodes), nodes // 20):
                    fleet[i] = dataclasses.replace(fleet[i], boot_id=f"boot-{i}-{day}")
                for i in rng.sample(range(nodes), nodes // 100):
                    fleet[i] = dataclasses.replace(fleet[i], unschedulable=not fleet[i].unschedulable)
                if day % 30 == 0:
                    for i in rng.sample(range(nodes), nodes // 10):
                        current = fleet[i].kata_version or RELEASES[0]
                        nxt = RELEASES[min(RELEASES.index(current) + 1, len(RELEASES) - 1)]
                        fleet[i] = dataclasses.replace(fleet[i], **_release(nxt, bool(fleet[i].custom_kernel)))  # type: ignore[arg-type]
            with store.write() as session:
                record_snapshot(session, "prod-eu", fleet, at=at)
                if day % 7 == 0 or day == days:
                    record_checks(session, "prod-eu", {f.name: checks_for(rng) for f in fleet}, at=at)
        with store.engine.begin() as conn:  # planner statistics, as autovacuum / a long-lived database has them
            conn.exec_driver_sql("ANALYZE")
    finally:
        store.close()
        done()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="the store URL to fill (should be empty)")
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=90)
    args = parser.parse_args()
    generate(args.db, nodes=args.nodes, days=args.days)
    return 0


if __name__ == "__main__":
    sys.exit(main())
