"""Simulator at scale: the `large` profile (10,000 nodes, about 220,000 pods).

Measures, against the same simulator in the same run:
- the full node list as served (`kubectl get --raw /api/v1/nodes`: same binary and transport, no decoding);
- `kubectl get nodes -o json`, against that raw list (the rest is kubectl decoding and printing);
- `kubectl get pods -A -o json` (kubectl pages with limit=500/continue), against one raw list;
- watch throughput to one client: a streaming list of every pod, and a burst of live node changes;
- the simulator's startup time and peak RSS.

Targets (issue 3): a full 10,000-node list in under 2 s; at least 1,000 watch events per second.
Run: .venv/bin/python benchmarks/bench_simulator.py [--nodes N] [--json]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml
from _common import Result, done, progress, report, run_quiet, timed

KUBECTL = Path(sys.executable).parent / "kubectl"


class Sim:
    """A simulator subprocess and an HTTPS connection factory for it."""

    def __init__(self, nodes: int | None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="bench-sim-"))
        cmd = [sys.executable, "-m", "simulator", "--profile", "large", "--out-dir", str(self.dir)]
        if nodes:
            cmd += ["--nodes", str(nodes)]
        started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if "press Ctrl-C" in line:
                break
        else:
            raise RuntimeError("simulator exited before serving")
        self.startup = time.perf_counter() - started
        self.kubeconfig = self.dir / "kubeconfig"
        cfg = yaml.safe_load(self.kubeconfig.read_text())
        server = cfg["clusters"][0]["cluster"]["server"]
        self.token = cfg["users"][0]["user"]["token"]
        self.host, port = server.removeprefix("https://").split(":")
        self.port = int(port)
        ca = self.dir / "bench-ca.crt"
        ca.write_bytes(base64.b64decode(cfg["clusters"][0]["cluster"]["certificate-authority-data"]))
        self.ctx = ssl.create_default_context(cafile=str(ca))

    def conn(self) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=600)

    def get(self, path: str) -> bytes:
        c = self.conn()
        c.request("GET", path, headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"})
        body = c.getresponse().read()
        c.close()
        return body

    def post(self, path: str, body: dict[str, Any]) -> Any:
        c = self.conn()
        c.request(
            "POST",
            path,
            body=json.dumps(body),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        data = json.loads(c.getresponse().read())
        c.close()
        return data

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def count_watch(sim: Sim, path: str, *, until_bookmark: bool, expected: int | None = None) -> tuple[int, float]:
    """Stream a watch and count ADDED/MODIFIED/DELETED events; returns (events, seconds from first to last)."""
    c = sim.conn()
    c.request("GET", path, headers={"Authorization": f"Bearer {sim.token}"})
    resp = c.getresponse()
    events, first, last = 0, 0.0, 0.0
    while True:
        line = resp.readline()
        if not line:
            break
        if b'"type":"BOOKMARK"' in line[:30]:
            if until_bookmark and b"initial-events-end" in line:
                break
            continue
        events += 1
        now = time.perf_counter()
        first = first or now
        last = now
        if expected is not None and events >= expected:
            break
    c.close()
    return events, last - first


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, help="node count (default: the large profile's 10,000)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()

    progress("starting the large simulator...")
    sim = Sim(args.nodes)
    kube = [str(KUBECTL), "--kubeconfig", str(sim.kubeconfig), "--cache-dir", str(sim.dir / "kube-cache")]
    results: list[Result] = []
    try:
        run_quiet([*kube, "get", "--raw", "/version"])  # warm discovery
        progress("listing nodes...")
        node_count = len(json.loads(sim.get("/api/v1/nodes"))["items"])
        raw_nodes = timed(lambda: run_quiet([*kube, "get", "--raw", "/api/v1/nodes"]))
        kubectl_nodes = timed(lambda: run_quiet([*kube, "get", "nodes", "-o", "json"]))
        python_nodes = timed(lambda: sim.get("/api/v1/nodes"))
        results.append(
            Result(
                f"full list of {node_count} nodes, served (kubectl get --raw)",
                raw_nodes,
                "s",
                "< 2 s",
                python_nodes,
                "HTTPS GET from Python",
                raw_nodes < 2.0,
            )
        )
        results.append(
            Result(
                f"kubectl get nodes -o json ({node_count} nodes)",
                kubectl_nodes,
                "s",
                "-",
                raw_nodes,
                "kubectl get --raw, same bytes",
            )
        )

        progress("listing all pods...")
        pod_count = len(json.loads(sim.get("/api/v1/pods"))["items"])
        raw_pods = timed(lambda: run_quiet([*kube, "get", "--raw", "/api/v1/pods"], timeout=1200), runs=1)
        kubectl_pods = timed(lambda: run_quiet([*kube, "get", "pods", "-A", "-o", "json"], timeout=1200), runs=1)
        results.append(
            Result(
                f"kubectl get pods -A -o json, pages of 500 ({pod_count} pods)",
                kubectl_pods,
                "s",
                "-",
                raw_pods,
                "kubectl get --raw, one request",
            )
        )

        progress("streaming list of all pods...")
        initial, seconds = count_watch(
            sim,
            "/api/v1/pods?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true",
            until_bookmark=True,
        )
        results.append(
            Result(
                f"watch: streaming list ({initial} events)",
                initial / seconds,
                "events/s",
                ">= 1000/s",
                None,
                "",
                initial / seconds >= 1000,
            )
        )

        progress("watching a burst of live node changes...")
        burst = 20_000
        rv = json.loads(sim.get("/api/v1/nodes?limit=1"))["metadata"]["resourceVersion"]
        counted: dict[str, float] = {}

        def watcher() -> None:
            n, secs = count_watch(
                sim, f"/api/v1/nodes?watch=true&resourceVersion={rv}", until_bookmark=False, expected=burst
            )
            counted.update(events=n, seconds=secs)

        t = threading.Thread(target=watcher)
        t.start()
        time.sleep(0.5)
        sim.post("/_sim/touch", {"count": burst})
        t.join(timeout=600)
        live_rate = counted["events"] / counted["seconds"] if counted.get("seconds") else 0.0
        results.append(
            Result(
                f"watch: live changes ({int(counted.get('events', 0))} events)",
                live_rate,
                "events/s",
                ">= 1000/s",
                None,
                "",
                live_rate >= 1000,
            )
        )
        results.append(Result("simulator startup (populate + serve)", sim.startup, "s", "-"))
        results.append(Result("simulator peak RSS", sim.peak_rss_mb(), "MB", "-"))
    finally:
        sim.stop()
        done()
    return report("bench_simulator", results, as_json=args.json)


if __name__ == "__main__":
    socket.setdefaulttimeout(600)
    sys.exit(main())
