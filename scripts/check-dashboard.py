"""Check deploy/monitoring/fleetctl-dashboard.json and print every panel's PromQL.

    .venv/bin/python scripts/check-dashboard.py [--promtool] [DASHBOARD]

Prints each panel's title and its target exprs with the template variables substituted
($cluster and $arch become `.*`, $run becomes `1`; ${datasource} is left as it is), and fails
(exit 1) when the dashboard breaks one of its own rules: a panel without a description,
datasource or gridPos, a target without refId or expr, overlapping or duplicate panels, a
fleetctl series that docs/monitoring.md does not list, or a kata-monitor family the simulator
does not export. With --promtool, the substituted exprs are also parsed offline by
`promtool check rules` on a temporary rules file (nothing is started, nothing is queried).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "deploy/monitoring/fleetctl-dashboard.json"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
SUBST = (("${cluster}", ".*"), ("$cluster", ".*"), ("${arch}", ".*"), ("$arch", ".*"), ("${run}", "1"), ("$run", "1"))
PROMETHEUS_OWN = {"up"}  # series Prometheus makes for every target


def substitute(expr: str) -> str:
    for var, value in SUBST:
        expr = expr.replace(var, value)
    return expr


def documented_series() -> set[str]:
    """The fleetctl_* series docs/monitoring.md lists in its tables."""
    text = (ROOT / "docs/monitoring.md").read_text()
    return set(re.findall(r"^\|\s*`(fleetctl_[a-z0-9_]+)`", text, re.M))


def simulated_families() -> set[str]:
    """The kata-monitor families the simulator exports, as series names (histograms as _bucket/_sum/_count)."""
    sys.path.insert(0, str(ROOT))
    from simulator.metrics import _HELP  # read-only use of the simulator's table

    out: set[str] = set()
    for name, (kind, _) in _HELP.items():
        out.update({f"{name}_bucket", f"{name}_sum", f"{name}_count"} if kind == "histogram" else {name})
    return out


def metric_names(expr: str) -> set[str]:
    """Metric names in an expr: identifiers that start like a series and are not followed by `(`."""
    names = set()
    for match in re.finditer(r"(?<![\w\"$.])([a-zA-Z_:][\w:]*)\s*(?=[{\[)\s]|$|\b(?:and|or|unless)\b)", expr):
        word = match.group(1)
        if word.startswith(("fleetctl_", "kata_")) or word in PROMETHEUS_OWN:
            names.add(word)
    return names


def walk(panels: list[dict]) -> list[dict]:
    out = []
    for panel in panels:
        out.append(panel)
        out.extend(walk(panel.get("panels") or []))
    return out


def overlaps(a: dict, b: dict) -> bool:
    return (
        a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"] and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"]
    )


def main(argv: list[str]) -> int:
    use_promtool = "--promtool" in argv
    args = [a for a in argv if a != "--promtool"]
    path = Path(args[0]) if args else DEFAULT
    dash = json.loads(path.read_text())
    problems: list[str] = []
    documented, simulated = documented_series(), simulated_families()

    if dash.get("uid") != "fleetctl-fleet" or dash.get("schemaVersion") != 39 or "__inputs" in dash:
        problems.append("dashboard: want uid fleetctl-fleet, schemaVersion 39 and no __inputs")
    variables = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
    if variables.get("datasource", {}).get("type") != "datasource":
        problems.append("templating: no `datasource` variable of type datasource")
    print("Template variables:")
    for name, var in variables.items():
        print(f"  {name} ({var['type']}): {var.get('query')}")
        if var["type"] == "query" and var.get("datasource") != DATASOURCE:
            problems.append(f"variable {name}: datasource is not ${{datasource}}")

    panels = walk(dash.get("panels", []))
    ids = [p.get("id") for p in panels]
    if len(ids) != len(set(ids)):
        problems.append("panels: duplicate ids")
    exprs: list[tuple[str, str]] = []
    for panel in panels:
        title = panel.get("title", "?")
        for key in ("description", "gridPos"):
            if not panel.get(key):
                problems.append(f"{title}: no {key}")
        if panel.get("datasource") != DATASOURCE:
            problems.append(f"{title}: panel datasource is not ${{datasource}}")
        if panel.get("type") == "row":
            print(f"\n== {title}")
            continue
        print(f"\n[{panel['type']}] {title}")
        if not panel.get("targets"):
            problems.append(f"{title}: no targets")
        for target in panel.get("targets", []):
            if not target.get("refId") or not target.get("expr"):
                problems.append(f"{title}: a target without refId or expr")
                continue
            if target.get("datasource") != DATASOURCE:
                problems.append(f"{title} {target['refId']}: target datasource is not ${{datasource}}")
            expr = substitute(target["expr"])
            print(f"  {target['refId']}: {expr}")
            exprs.append((f"{title} {target['refId']}", expr))
            if re.search(r"\$\w", expr.replace("${datasource}", "")):
                problems.append(f"{title} {target['refId']}: unknown template variable left in {expr}")
            for name in metric_names(expr):
                if name.startswith("fleetctl_") and name not in documented:
                    problems.append(f"{title}: {name} is not in docs/monitoring.md")
                if name.startswith("kata_") and name not in simulated:
                    problems.append(f"{title}: {name} is not exported by simulator/metrics.py")

    grids = [(p.get("title"), p["gridPos"]) for p in panels if p.get("gridPos")]
    for i, (ta, a) in enumerate(grids):
        if a["x"] < 0 or a["x"] + a["w"] > 24:
            problems.append(f"{ta}: gridPos outside the 24 columns")
        for tb, b in grids[i + 1 :]:
            if overlaps(a, b):
                problems.append(f"gridPos: {ta!r} overlaps {tb!r}")

    if use_promtool:
        problems.extend(promtool_check(exprs))

    print()
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print(f"{len(panels)} panels, {len(exprs)} exprs, {len(problems)} problems")
    return 1 if problems else 0


def promtool_check(exprs: list[tuple[str, str]]) -> list[str]:
    """Parse each expr with `promtool check rules` (offline: a rules file, no server)."""
    promtool = shutil.which("promtool")
    if not promtool:
        return ["--promtool: promtool is not installed"]
    rules = [{"record": f"dashboard:expr_{i}", "expr": expr} for i, (_, expr) in enumerate(exprs)]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)  # JSON is YAML
    try:
        done = subprocess.run([promtool, "check", "rules", f.name], capture_output=True, text=True, check=False)
    finally:
        Path(f.name).unlink()
    if done.returncode == 0:
        print(f"\npromtool: all {len(exprs)} exprs parse")
        return []
    return [f"promtool: {line}" for line in (done.stdout + done.stderr).splitlines() if line.strip()]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
