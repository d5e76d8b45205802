"""deploy/monitoring/ holds together: promtool accepts the rules (plain and as a PrometheusRule) and passes
their unit tests, both files have the same groups, every alert is labelled and annotated with a runbook
heading that exists, every alert has a firing and a quiet unit test, every recording rule a test, and
every series the rules read is one docs/monitoring.md lists."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
RULES = MONITORING / "fleetctl-rules.yaml"
PROMETHEUS_RULE = MONITORING / "prometheusrule.yaml"
SERVICE_MONITOR = MONITORING / "servicemonitor.yaml"
RULES_TEST = MONITORING / "tests" / "rules-test.yaml"
DEPLOYMENT = ROOT / "deploy" / "deployment.yaml"
RUNBOOK = ROOT / "docs" / "runbook.md"
SPEC = ROOT / "docs" / "monitoring.md"
RUNBOOK_URL = "https://github.com/fleetctl/fleetctl/blob/main/docs/runbook.md#"
SEVERITIES = {"warning", "critical"}


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool not found on PATH: it comes with Debian's Prometheus, `apt-get install prometheus` "
            "(scripts/system-deps.sh installs it for make test)"
        )
    return path


def run_promtool(promtool: str, *args: str) -> None:
    done = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"promtool {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}"


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def groups() -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = load(RULES)["groups"]
    return result


def rules() -> list[dict[str, Any]]:
    return [rule for group in groups() for rule in group["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def recordings() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "record" in rule]


def prometheus_rule() -> dict[str, Any]:
    doc: dict[str, Any] = load(PROMETHEUS_RULE)
    return doc


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lowercase, punctuation dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def headings(markdown: str) -> list[str]:
    """The ATX headings' text, outside fenced code blocks."""
    out: list[str] = []
    fenced = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"#{1,6} +(.+?)\s*#*\s*$", line)):
            out.append(m.group(1))
    return out


def test_github_anchor() -> None:
    assert github_anchor("FleetctlNodeDrifted") == "fleetctlnodedrifted"
    assert github_anchor("What it means, and how (to look)?") == "what-it-means-and-how-to-look"
    assert github_anchor("per_node = false") == "per_node--false"


def test_promtool_checks_the_plain_rules_file(promtool: str) -> None:
    run_promtool(promtool, "check", "rules", str(RULES))


def test_promtool_checks_the_prometheusrule_spec(promtool: str, tmp_path: Path) -> None:
    doc = prometheus_rule()
    assert doc["apiVersion"] == "monitoring.coreos.com/v1"
    assert doc["kind"] == "PrometheusRule"
    spec = tmp_path / "prometheusrule-spec.yaml"
    spec.write_text(yaml.safe_dump(doc["spec"], sort_keys=False))
    run_promtool(promtool, "check", "rules", str(spec))


def test_promtool_unit_tests_pass(promtool: str) -> None:
    run_promtool(promtool, "test", "rules", str(RULES_TEST))


def test_the_unit_tests_load_the_plain_rules_file() -> None:
    files = load(RULES_TEST)["rule_files"]
    assert [(RULES_TEST.parent / f).resolve() for f in files] == [RULES.resolve()]


def test_prometheusrule_has_the_plain_files_groups() -> None:
    doc = prometheus_rule()
    assert doc["metadata"]["namespace"] == "fleetctl"
    assert doc["metadata"]["labels"] == {"release": "prometheus", "app.kubernetes.io/name": "fleetctl"}
    assert doc["spec"]["groups"] == groups(), "prometheusrule.yaml's spec.groups differ from fleetctl-rules.yaml"


@pytest.mark.parametrize("alert", alerts(), ids=lambda a: str(a["alert"]))
def test_alert_is_labelled_and_annotated(alert: dict[str, Any]) -> None:
    name = alert["alert"]
    assert alert.get("labels", {}).get("severity") in SEVERITIES, f"{name}: severity must be one of {SEVERITIES}"
    annotations = alert.get("annotations", {})
    for key in ("summary", "description", "runbook_url"):
        assert str(annotations.get(key, "")).strip(), f"{name}: no {key} annotation"
    if not str(alert["expr"]).startswith("absent("):  # an absent() alert has no series, so no labels to name
        assert "{{" in annotations["description"], f"{name}: the description names no $labels or $value"
    url = annotations["runbook_url"]
    assert url == RUNBOOK_URL + name.lower(), f"{name}: runbook_url {url} is not {RUNBOOK_URL}{name.lower()}"


def test_every_runbook_url_anchor_is_a_runbook_heading() -> None:
    anchors = {github_anchor(h) for h in headings(RUNBOOK.read_text())}
    missing = [a["alert"] for a in alerts() if a["annotations"]["runbook_url"].split("#", 1)[1] not in anchors]
    assert not missing, f"no heading in docs/runbook.md for the runbook_url of: {missing}"


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for group in load(RULES_TEST)["tests"]:
        for case in group.get("alert_rule_test") or []:
            (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    names = {a["alert"] for a in alerts()}
    assert names - firing == set(), f"alerts with no unit test where they fire: {sorted(names - firing)}"
    assert names - quiet == set(), f"alerts with no unit test where they stay quiet: {sorted(names - quiet)}"
    unknown = sorted((firing | quiet) - names)
    assert not unknown, f"unit tests of alerts that do not exist: {unknown}"


def test_every_recording_rule_has_a_unit_test() -> None:
    tested = {
        case["expr"].strip() for group in load(RULES_TEST)["tests"] for case in group.get("promql_expr_test") or []
    }
    untested = [r["record"] for r in recordings() if r["record"] not in tested]
    assert not untested, f"recording rules with no promql_expr_test: {untested}"


def test_every_series_the_rules_use_is_in_the_spec() -> None:
    listed = set(re.findall(r"^\| `(fleetctl_[a-z_]+)`", SPEC.read_text(), flags=re.MULTILINE))
    assert listed, "docs/monitoring.md lists no fleetctl_ series"
    used: set[str] = set()
    for rule in rules():
        text = yaml.safe_dump({k: v for k, v in rule.items() if k != "record"})
        used |= set(re.findall(r"fleetctl_[a-z_]+", re.sub(r"fleetctl:[a-z_:]+", "", text)))
    assert used, "the rules use no fleetctl_ series"
    assert used <= listed, f"series the rules use that docs/monitoring.md does not list: {sorted(used - listed)}"


def test_service_and_servicemonitor_select_the_serve_pods() -> None:
    docs = {d["kind"]: d for d in yaml.safe_load_all(SERVICE_MONITOR.read_text()) if d}
    service, monitor = docs["Service"], docs["ServiceMonitor"]
    pod = load(DEPLOYMENT)["spec"]["template"]
    container = next(c for c in pod["spec"]["containers"] if c["args"][0] == "serve")
    args = container["args"]
    serve_port = int(args[args.index("--port") + 1]) if "--port" in args else 8080

    assert service["metadata"]["namespace"] == "fleetctl"
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (port,) = [p for p in service["spec"]["ports"] if p["name"] == "metrics"]
    target = next(p for p in container["ports"] if port["targetPort"] in (p["name"], p["containerPort"]))
    assert target["containerPort"] == serve_port

    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert service["metadata"]["namespace"] in monitor["spec"]["namespaceSelector"]["matchNames"]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"], endpoint["interval"]) == ("metrics", "/metrics", "30s")
