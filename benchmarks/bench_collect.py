"""Collector at scale: the `large` profile (10,000 nodes, about 220,000 pods) into SQLite.

Measures, against the same simulator in the same run:
- the floor: in this process, the raw HTTPS GETs of exactly the lists the collector reads (nodes;
  pods by each selector; Running pods; PeerPods; node events), paged as the collector pages them,
  their bytes decoded by the same functions (``clients.kube.decode``). Its bytes are reported too;
- a full `fleetctl collect` into a new SQLite store: wall time and the collector's peak RSS,
  as a ratio to the floor;
- an unchanged re-collection as a fraction of the full one: the second round of `collect --watch`
  (nodes and the labelled pods kept by watches, Running pods read every tenth round) against its
  own first, full round;
- reference rows: `kubectl get nodes,pods -A -o json > /dev/null`, and with ``--reference-tree DIR``
  the same `collect` run from another checkout (e.g. the commit before a change).

Targets (issue 21): full collection <= 2.0x the floor, peak RSS <= 300 MB, re-collection <= 10%.
Run: .venv/bin/python benchmarks/bench_collect.py [--nodes N] [--reference-tree DIR] [--json]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from _common import Result, done, progress, report
from bench_simulator import KUBECTL, Sim

from clients.kube.decode import decode, decode_as
from clients.kube.objects import Page, PeerPod, Pod
from collectors.inventory.events import QUERIES as EVENT_QUERIES
from collectors.inventory.pods import DEFAULT_SELECTORS, PEERPODS_PATH, RUNNING, labelled_reads

FLEETCTL = Path(sys.executable).parent / "fleetctl"


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run ``cmd`` with output discarded; return (wall seconds, peak RSS in MB) of that process alone."""
    wall, rss, _ = run_with_output(cmd, env)
    return wall, rss


def run_with_output(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Run ``cmd``; return (wall seconds, peak RSS in MB of that process alone, its stdout)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=errors, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            errors.seek(0)
            raise RuntimeError(f"{' '.join(cmd[:3])}... failed: {errors.read().decode()[-500:]}")
        out.seek(0)
        return wall, usage.ru_maxrss / 1024, out.read().decode()


def reported_seconds(output: str) -> tuple[float, float]:
    """The inventory's and the health round's seconds, from collect's two summary lines."""
    lines = output.splitlines()
    inventory = next(line for line in lines if " nodes, " in line and " pods;" in line)
    health = next(line for line in lines if ": health " in line)
    return tuple(float(line.rsplit(";", 1)[1].strip().rstrip("s")) for line in (inventory, health))  # type: ignore[return-value]


def floor(sim: Sim) -> tuple[float, int]:
    """The raw transfer and decoding of exactly the lists the collector reads: (seconds, bytes)."""
    pod_queries = [{"labelSelector": sel} for _, sel in labelled_reads(DEFAULT_SELECTORS)]
    lists: list[tuple[str, dict[str, str], type | None]] = [
        ("/api/v1/nodes", {}, None),
        *(("/api/v1/pods", q, Pod) for q in pod_queries),
        ("/api/v1/pods", {"fieldSelector": RUNNING}, Pod),
        (PEERPODS_PATH, {}, PeerPod),
        *(("/api/v1/events", dict(q), None) for q in EVENT_QUERIES),
    ]
    conn, total = sim.conn(), 0
    headers = {"Authorization": f"Bearer {sim.token}", "Accept": "application/json"}
    start = time.perf_counter()
    for path, params, item in lists:
        token = ""
        while True:
            query = urllib.parse.urlencode({**params, "limit": 500, **({"continue": token} if token else {})})
            conn.request("GET", f"{path}?{query}", headers=headers)
            body = conn.getresponse().read()
            total += len(body)
            if item is None:
                token = (decode(body, path).get("metadata") or {}).get("continue") or ""
            else:
                token = decode_as(body, Page[item], path).metadata.next
            if not token:
                break
    conn.close()
    return time.perf_counter() - start, total


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
    parser.add_argument(
        "--reference-tree", help="also time `collect` from this checkout (PYTHONPATH), e.g. the commit before"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    progress("starting the large simulator...")
    sim = Sim(args.nodes)
    work = Path(tempfile.mkdtemp(prefix="bench-collect-"))
    env = {**os.environ, "XDG_DATA_HOME": str(work / "data"), "XDG_CONFIG_HOME": str(work / "config")}
    results: list[Result] = []
    try:
        progress("floor: the raw lists the collector reads...")
        floor_s, floor_bytes = min(floor(sim) for _ in range(2))
        db = f"sqlite:///{work / 'fleet.db'}"
        base = [str(FLEETCTL), "--kubeconfig", str(sim.kubeconfig), "--db", db]
        subprocess.run([*base, "db", "upgrade"], check=True, capture_output=True, env=env)
        progress("full collection...")
        wall, rss, output = run_with_output([*base, "collect"], env=env)
        full, health_s = reported_seconds(output)
        progress("re-collection of the unchanged fleet (collect --watch rounds)...")
        first, again = watch_rounds([*base, "collect", "--watch", "--interval", "3s"], env)
        results += [
            Result("floor: raw GETs + decode of the lists needed", floor_s, "s", "-", None, ""),
            Result("floor: bytes transferred", floor_bytes / 1e6, "MB", "-", None, ""),
            Result(
                "full collection into SQLite (inventory)",
                full,
                "s",
                "ratio <= 2.0",
                floor_s,
                "the floor",
                full / floor_s <= 2.0,
            ),
            Result("its health round (Kubernetes checks, no Prometheus)", health_s, "s", "-", full, "the inventory"),
            Result("the whole `fleetctl collect` process", wall, "s", "-", floor_s, "the floor"),
            Result("collector peak RSS", rss, "MB", "<= 300 MB", None, "", rss <= 300),
            Result(
                "re-collection, nothing changed (watch round 2)",
                again,
                "s",
                "<= 10% of full",
                first,
                "watch round 1, a full list",
                again / first <= 0.10,
            ),
        ]
        oneshot, _ = reported_seconds(run_with_output([*base, "collect"], env=env)[2])
        results.append(
            Result("one-shot re-collection (relists everything)", oneshot, "s", "-", full, "the full collection")
        )
        if args.reference_tree:
            progress(f"the same collection from {args.reference_tree}...")
            ref_env = {**env, "PYTHONPATH": str(Path(args.reference_tree).resolve())}
            ref_db = [str(FLEETCTL), "--kubeconfig", str(sim.kubeconfig), "--db", f"sqlite:///{work / 'ref.db'}"]
            subprocess.run([*ref_db, "db", "upgrade"], check=True, capture_output=True, env=ref_env)
            ref_wall, ref_rss, ref_out = run_with_output([*ref_db, "collect"], env=ref_env)
            ref, _ = reported_seconds(ref_out)
            results.append(Result(f"reference: inventory by {args.reference_tree}", ref, "s", "-", full, "this tree"))
            results.append(Result("reference: its whole process", ref_wall, "s", "-", wall, "this tree"))
            results.append(Result("reference: its peak RSS", ref_rss, "MB", "-", rss, "this tree"))
        progress("reference: kubectl get nodes,pods -A -o json...")
        kubectl, _ = run_measured(
            [str(KUBECTL), "--kubeconfig", str(sim.kubeconfig), "--cache-dir", str(work / "kube-cache"),
             "get", "nodes,pods", "-A", "-o", "json"]
        )  # fmt: skip
        results.append(
            Result("reference: kubectl get nodes,pods -A -o json", kubectl, "s", "-", full, "fleetctl collect")
        )
    finally:
        sim.stop()
        done()
    return report("bench_collect", results, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
