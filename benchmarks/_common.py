"""Shared pieces of the benchmark scripts: progress on a terminal, results as a table or JSON."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def progress(message: str) -> None:
    """A progress line on stderr, only when stderr is a terminal."""
    if sys.stderr.isatty():
        sys.stderr.write(f"\r\033[K{message}")
        sys.stderr.flush()


def done() -> None:
    """End the progress line."""
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()


@dataclass
class Result:
    """One measured figure: value and baseline from the same run, and the target."""

    figure: str
    value: float
    unit: str
    target: str
    baseline: float | None = None
    baseline_name: str = ""
    ok: bool | None = None

    @property
    def ratio(self) -> float | None:
        """value / baseline."""
        return self.value / self.baseline if self.baseline else None


def timed(fn: Callable[[], object], runs: int = 3) -> float:
    """The median wall time of ``runs`` calls."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_quiet(cmd: list[str], **kw: object) -> None:
    """Run a command, output discarded; fail loudly if it fails."""
    result = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **kw)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])}... failed: {result.stderr[-500:]}")


def machine() -> str:
    """A one-line description of this machine."""
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def report(title: str, results: list[Result], *, as_json: bool) -> int:
    """Print results as a table (or JSON with --json); return the exit code: 1 when a target was missed."""
    if as_json:
        print(
            json.dumps(
                {
                    "benchmark": title,
                    "machine": machine(),
                    "results": [asdict(r) | {"ratio": r.ratio} for r in results],
                },
                indent=2,
            )
        )
        return _code(results)
    print(f"{title}  ({machine()})")
    rows = [("FIGURE", "VALUE", "TARGET", "BASELINE (same run)", "RATIO", "OK")]
    for r in results:
        base = f"{r.baseline:.3g} {r.unit} ({r.baseline_name})" if r.baseline is not None else "-"
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "-"
        ok = "-" if r.ok is None else ("yes" if r.ok else "NO")
        rows.append((r.figure, f"{r.value:.3g} {r.unit}", r.target, base, ratio, ok))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return _code(results)


def _code(results: list[Result]) -> int:
    return 0 if all(r.ok is not False for r in results) else 1


def step_seconds(step: Any, *names: str) -> float:
    """The seconds a node step's ``names`` took (its recorded facts)."""
    timings = step.facts.get("seconds") or {}
    return float(sum(timings.get(n, 0.0) for n in names))


def ideal_rollout(view: Any, *names: str) -> float:
    """The ideal duration of a run: per wave, the slowest done node's ``names`` (install and verify)."""
    return sum(
        max((step_seconds(s, *names) for s in view.wave_steps(w.number) if s.state == "done"), default=0.0)
        for w in view.waves
    )
