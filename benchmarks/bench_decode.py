"""Decoding Kubernetes list pages: which JSON library, measured on the simulator's own pods.

One page of 500 pods and the whole pod list of a ``large``-profile fleet (``--nodes``, default
1,000), as the API serves them, decoded with the garbage collector on, as in the collector:
- ``json.loads`` (the baseline: what the collector used before);
- ``msgspec`` to dicts, and into ``clients.kube.objects.Page[Pod]`` (only the fields read);
- ``orjson`` to dicts, when it is installed (it is not a dependency).

Run: .venv/bin/python benchmarks/bench_decode.py [--nodes N] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

from _common import Result, done, progress, report
from bench_simulator import Sim

from clients.kube.decode import decode, decode_as
from clients.kube.objects import Page, Pod


def best(fn: Callable[[], object], runs: int) -> float:
    """The fastest of ``runs`` calls (the machine's noise only ever adds)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000, help="node count of the large profile (default 1,000)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    progress("starting the simulator...")
    sim = Sim(args.nodes)
    try:
        page = sim.get("/api/v1/pods?limit=500")
        whole = sim.get("/api/v1/pods")
    finally:
        sim.stop()
        done()
    decoders: list[tuple[str, Callable[[bytes], object]]] = [
        ("msgspec, to dicts", lambda b: decode(b, "bench")),
        ("msgspec, into Page[Pod]", lambda b: decode_as(b, Page[Pod], "bench")),  # type: ignore[misc]
    ]
    try:
        import orjson

        decoders.append(("orjson, to dicts", orjson.loads))
    except ImportError:
        pass
    results: list[Result] = []
    for what, body, runs in (("a page of 500 pods", page, 20), (f"all pods ({len(whole) / 1e6:.0f} MB)", whole, 3)):
        base = best(lambda body=body: json.loads(body), runs)  # type: ignore[misc]
        results.append(Result(f"{what}: json.loads", base, "s", "-", None, ""))
        for name, fn in decoders:
            took = best(lambda fn=fn, body=body: fn(body), runs)  # type: ignore[misc]
            results.append(Result(f"{what}: {name}", took, "s", "-", base, "json.loads, same bytes"))
    return report("bench_decode", results, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
