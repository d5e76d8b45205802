"""Run every benchmark script, one after another, and write docs/benchmarks.md from their figures.

Each script also runs on its own; this runs each with ``--json`` (in a fresh process, so one
script's caches and memory never help another) and tabulates what they measured. Exit 1 when a
target was missed; the page is written either way.

Run: .venv/bin/python benchmarks/run_all.py [--only NAME ...] [--out docs/benchmarks.md]   (make bench)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def scripts(only: list[str]) -> list[Path]:
    """The bench_*.py scripts, optionally only the named ones (``queries`` or ``bench_queries``)."""
    found = sorted(HERE.glob("bench_*.py"))
    if not only:
        return found
    wanted = {n.removeprefix("bench_").removesuffix(".py") for n in only}
    return [p for p in found if p.stem.removeprefix("bench_") in wanted]


def run(script: Path) -> tuple[dict[str, Any] | None, str, float]:
    """The script's JSON report (None if it crashed), its stderr tail, and its wall time."""
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(script), "--json"], capture_output=True, text=True, cwd=ROOT, check=False
    )
    seconds = time.monotonic() - began
    try:
        return json.loads(result.stdout), result.stderr[-2000:], seconds
    except json.JSONDecodeError:
        return None, (result.stderr or result.stdout)[-2000:], seconds


def _num(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    return f"{value:.3g} {unit}".strip()


def page(reports: list[tuple[Path, dict[str, Any] | None, str, float]], started: datetime) -> str:
    """docs/benchmarks.md."""
    machine = next((r["machine"] for _, r, _, _ in reports if r), "unknown")
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`benchmarks/run_all.py`), which runs every script in `benchmarks/` one after",
        "another. Each figure is compared with a baseline measured in the same run on the same machine,",
        "because absolute times drift on shared machines; the ratio is value / baseline. A script also",
        "runs on its own (`.venv/bin/python benchmarks/bench_upgrades.py`); what each measures is in",
        "[benchmarks/README.md](../benchmarks/README.md).",
        "",
        f"Last run: {started:%Y-%m-%d %H:%M} UTC on {machine}.",
        "",
        "| benchmark | figure | target | value | baseline (same run) | ratio | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for script, report, _, _ in reports:
        if report is None:
            lines.append(f"| {script.stem} | the script failed (see `make bench` output) | | | | | no |")
            continue
        for r in report["results"]:
            met = "-" if r["ok"] is None else ("yes" if r["ok"] else "**no**")
            baseline = f"{_num(r['baseline'], r['unit'])} ({r['baseline_name']})" if r["baseline"] is not None else "-"
            ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
            figure = str(r["figure"]).replace("|", "/")
            lines.append(
                f"| {script.stem} | {figure} | {r['target']} | {_num(r['value'], r['unit'])} | {baseline} | {ratio} | {met} |"
            )
    lines += ["", "Wall time per script: " + ", ".join(f"{s.stem} {secs:.0f} s" for s, _, _, secs in reports) + "."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=[], help="run only these scripts (e.g. upgrades tui)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"), help="where to write the page")
    args = parser.parse_args()
    started = datetime.now(UTC)
    todo = scripts(args.only)
    if not todo:
        print(f"error: no benchmark matches {' '.join(args.only)}", file=sys.stderr)
        return 2
    reports = []
    for i, script in enumerate(todo, 1):
        if sys.stderr.isatty():
            print(f"[{i}/{len(todo)}] {script.name}...", file=sys.stderr, flush=True)
        report, tail, seconds = run(script)
        if report is None:
            print(f"{script.name} failed:\n{tail}", file=sys.stderr)
        reports.append((script, report, tail, seconds))
    Path(args.out).write_text(page(reports, started))
    missed = [
        f"{s.stem}: {r['figure']}" for s, rep, _, _ in reports if rep for r in rep["results"] if r["ok"] is False
    ] + [f"{s.stem}: failed" for s, rep, _, _ in reports if rep is None]
    print(
        f"wrote {args.out}: {sum(len(r['results']) for _, r, _, _ in reports if r)} figures from {len(reports)} scripts"
    )
    for line in missed:
        print(f"missed: {line}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
