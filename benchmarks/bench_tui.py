"""The dashboard on a 10,000-node store, headless (Textual's pilot), against the store reads it needs.

- Time to the first full paint: from starting the app to the node table holding every node.
  Baseline: ``read_nodes`` of the whole fleet (the read the first paint cannot skip).
  Target: 1.5 s or less.
- From the filter's enter to the table holding the filtered rows (the repaint follows in the
  next frame). Baseline: ``read_nodes`` with that filter. Target: 150 ms or less.
- UI-thread time of a refresh in which 1% of the nodes changed (reads happen in a worker).
  Baseline: the same refresh with nothing changed. Target: 100 ms or less.

The store comes from gen_store.py. Run: .venv/bin/python benchmarks/bench_tui.py [--nodes N] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from _common import Result, done, progress, report
from gen_store import generate

from fleetctl.tui.app import FleetApp, FleetScreen
from store.migrate import open_store
from store.query.reading import read_nodes

FILTER = "arch = s390x and kata < 4.0"


async def measure(url: str) -> dict[str, float]:
    out: dict[str, float] = {}
    with open_store(url) as store:
        start = time.perf_counter()
        read_nodes(store, where=None, selector=None, now=datetime.now(UTC))
        out["read_all"] = time.perf_counter() - start
        start = time.perf_counter()
        expected = len(read_nodes(store, where=FILTER, selector=None, now=datetime.now(UTC)).items)
        out["read_filter"] = time.perf_counter() - start
        app = FleetApp(store, refresh_s=0)
        start = time.perf_counter()
        async with app.run_test(size=(200, 60)) as pilot:
            screen = await _until(lambda: isinstance(app.screen, FleetScreen) and app.screen.rows, app)
            out["first_paint"] = time.perf_counter() - start
            assert isinstance(screen, FleetScreen)
            await pilot.press("slash", *FILTER)
            start = time.perf_counter()
            await pilot.press("enter")  # returns once the app is idle again: after the repaint that follows
            await _until(lambda: len(screen.rows) == expected, app)
            out["filter"] = screen.shown_at - start  # when the table took the filtered rows
            await pilot.press("escape")
            await _until(lambda: len(screen.rows) > expected, app)
            screen.action_refresh()
            await _until(lambda: not app.workers, app)
            out["refresh_unchanged"] = screen.ui_seconds
            _change_one_percent(store)
            screen.action_refresh()
            await _until(lambda: not app.workers, app)
            out["refresh_changed"] = screen.ui_seconds
    return out


async def _until(check: object, app: FleetApp, timeout: float = 60.0) -> object:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        value = check()  # type: ignore[operator]
        if value:
            return app.screen
        await asyncio.sleep(0.005)
    raise TimeoutError("the dashboard did not get there in time")


def _change_one_percent(store: object) -> None:
    with store.write() as session:  # type: ignore[attr-defined]
        session.execute(
            sa.text("UPDATE node_state SET host_kernel = host_kernel || '-patched' WHERE node_id % 100 = 7")
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-tui-"))
    url = f"sqlite:///{work / 'fleet.db'}"
    try:
        progress(f"generating a {args.nodes}-node store...")
        generate(url, nodes=args.nodes, days=1)
        progress("driving the dashboard...")
        m = asyncio.run(measure(url))
    finally:
        done()
    results = [
        Result("first full paint", m["first_paint"], "s", "<= 1.5 s", m["read_all"], "read_nodes, whole fleet", m["first_paint"] <= 1.5),
        Result(f"filter '{FILTER}': enter to table", m["filter"] * 1000, "ms", "<= 150 ms", m["read_filter"] * 1000, "read_nodes, filtered", m["filter"] <= 0.150),
        Result("refresh with 1% changed: UI-thread time", m["refresh_changed"] * 1000, "ms", "<= 100 ms", m["refresh_unchanged"] * 1000, "refresh, nothing changed", m["refresh_changed"] <= 0.100),
    ]  # fmt: skip
    return report("bench_tui", results, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
