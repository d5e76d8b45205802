"""Draw the Grafana dashboard's panels from real query results: docs/images/dashboard.png.

Grafana is not in Debian's archive, so this is the stand-in for a screenshot: it starts what
the monitoring test starts (a simulated fleet with a rollout paused at its gate, ``fleetctl
serve``, Debian's Prometheus), runs every panel's query as the dashboard would, and draws each
panel with matplotlib: time series as lines over the last minutes, the others as bars of their
current values. Run it with ``make dashboard-picture``.

Usage: .venv/bin/python scripts/render-dashboard.py [--out PATH] [--minutes M]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from simulator.server import ServerOptions, Simulator  # noqa: E402
from tests.support.monitoring import DASHBOARD, fill_variables, monitored_fleet  # noqa: E402

HIDDEN_LABELS = {"__name__", "job", "instance"}


def query(prom: str, path: str, **params: str) -> list[dict[str, Any]]:
    url = f"{prom}/api/v1/{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=30) as response:
        body = json.loads(response.read())
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def legend(metric: dict[str, str]) -> str:
    shown = {k: v for k, v in metric.items() if k not in HIDDEN_LABELS}
    return ", ".join(f"{k}={v}" for k, v in sorted(shown.items())) or "value"


def draw(panels: list[dict[str, Any]], prom: str, run: int, minutes: float, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawn = [p for p in panels if p.get("targets")]
    columns = 4
    rows = -(-len(drawn) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 5, rows * 3.2), squeeze=False)
    end = time.time()
    for ax, panel in zip(axes.flat, drawn, strict=False):
        ax.set_title(panel["title"], fontsize=10, loc="left")
        ax.tick_params(labelsize=7)
        for target in panel["targets"]:
            expr = fill_variables(target["expr"], run)
            if panel.get("type") == "timeseries":
                step = max(1.0, minutes * 60 / 120)
                series = query(prom, "query_range", query=expr, start=str(end - minutes * 60), end=str(end),
                               step=str(step))  # fmt: skip
                for s in series[:8]:
                    xs = [(float(t) - end) / 60 for t, _ in s["values"]]
                    ax.plot(xs, [float(v) for _, v in s["values"]], label=legend(s["metric"]), linewidth=1)
                ax.set_xlabel("minutes ago", fontsize=7)
            else:
                series = query(prom, "query", query=expr)[:12]
                labels = [legend(s["metric"])[:40] for s in series]
                ax.barh(labels, [float(s["value"][1]) for s in series])
                ax.invert_yaxis()
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6, loc="upper left")
    for ax in list(axes.flat)[len(drawn) :]:
        ax.axis("off")
    figure.suptitle(
        "fleetctl: Kata fleet (deploy/monitoring/fleetctl-dashboard.json), drawn from Prometheus scraping "
        "fleetctl serve and the simulated kata-monitors",
        fontsize=12,
    )
    figure.tight_layout(rect=(0, 0, 1, 0.98))
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=80)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "dashboard.png")
    parser.add_argument("--minutes", type=float, default=3.0, help="how long to let the fleet run first")
    args = parser.parse_args()
    panels = json.loads(DASHBOARD.read_text())["panels"]
    with tempfile.TemporaryDirectory(prefix="fleetctl-dashboard-") as tmp:
        options = ServerOptions(profile="small", seed=11, time_scale=50, out_dir=Path(tmp) / "sim", churn=False)
        with Simulator(options) as sim, monitored_fleet(sim, Path(tmp)) as m:
            print(f"letting the fleet run {args.minutes:g} minutes for the time series...", file=sys.stderr)
            time.sleep(args.minutes * 60)  # a picture of a few minutes of data, not a wait for a condition
            draw(panels, m.prometheus, m.run, args.minutes, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
