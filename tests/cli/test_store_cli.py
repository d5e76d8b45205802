"""Which store a command opens: a typo'd ``--db`` is an error, not a new empty store; only the
commands that fill a store create one, and they say so; ``--context`` narrows the reads.
Also the start-up rule: ``--version`` and ``--help`` load no database code."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from store.checks import CheckResult, Status
from store.facts import NodeFacts
from store.health import record_checks
from store.migrate import alembic_head, head_revision, open_store
from store.snapshots import record_snapshot
from tests.support.cli import assert_clean_error, fleetctl_in_process

READ_COMMANDS = [["nodes"], ["health"], ["versions"], ["history"], ["upgrade", "history"], ["schedule", "list"]]


def test_the_head_constant_is_alembics_head() -> None:
    assert head_revision() == alembic_head()


@pytest.mark.parametrize("command", READ_COMMANDS, ids=" ".join)
def test_a_read_command_on_a_missing_store_is_exit_2_and_creates_nothing(tmp_path: Path, command: list[str]) -> None:
    db = tmp_path / "fleet.db"
    result = fleetctl_in_process("--db", f"sqlite:///{db}", *command)
    assert_clean_error(result, 2)
    assert f"there is no fleetctl store at {db}" in result.stderr
    assert "hint: check the path; or create and fill a store with: fleetctl collect" in result.stderr
    assert not db.exists()


def test_a_db_path_in_a_missing_directory_is_exit_2_for_every_command(tmp_path: Path) -> None:
    db = tmp_path / "typo" / "fleet.db"
    for command in [*READ_COMMANDS, ["db", "upgrade"], ["releases", "sync"]]:
        result = fleetctl_in_process("--db", f"sqlite:///{db}", *command)
        assert_clean_error(result, 2)
        assert f"the directory {db.parent} does not exist" in result.stderr, command
    assert not db.parent.exists()


def test_db_upgrade_creates_a_store_and_says_so_once(tmp_path: Path) -> None:
    db = tmp_path / "fleet.db"
    dry = fleetctl_in_process("--db", f"sqlite:///{db}", "db", "upgrade", "--dry-run")
    assert dry.returncode == 0 and "db upgrade would create it at schema" in dry.stdout and not db.exists()
    first = fleetctl_in_process("--db", f"sqlite:///{db}", "db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert f"note: created a new fleetctl store at {db}" in first.stderr
    assert f"migrated from empty to {head_revision()}" in first.stdout
    again = fleetctl_in_process("--db", f"sqlite:///{db}", "db", "upgrade")
    assert again.returncode == 0 and "created" not in again.stderr and "nothing to do" in again.stdout
    info = fleetctl_in_process("--db", f"sqlite:///{db}", "db", "info", "-o", "json")
    assert json.loads(info.stdout)["revision"] == head_revision()


def _facts(name: str, arch: str) -> NodeFacts:
    return NodeFacts(name=name, uid=f"uid-{name}", arch=arch, ready=True, kata_version="3.28.0", cpu_capacity=8000)


@pytest.fixture
def two_clusters(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'two.db'}"
    now = datetime.now(UTC)
    with open_store(url) as store, store.write() as session:
        record_snapshot(session, "prod-eu", [_facts("eu-1", "amd64"), _facts("eu-2", "s390x")], at=now)
        record_snapshot(session, "prod-us", [_facts("us-1", "amd64")], at=now)
    return url


def test_context_narrows_every_store_read_to_that_cluster(two_clusters: str) -> None:
    def names(*args: str) -> list[str]:
        result = fleetctl_in_process("--db", two_clusters, *args)
        assert result.returncode in (0, 1), result.stderr
        return result.stdout.split()

    assert names("nodes", "-o", "name") == ["node/eu-1", "node/eu-2", "node/us-1"]
    assert names("--context", "prod-us", "nodes", "-o", "name") == ["node/us-1"]
    assert names("--context", "prod-eu", "query", "arch = amd64") == ["node/eu-1"]
    versions = fleetctl_in_process("--db", two_clusters, "--context", "prod-eu", "versions", "-o", "json")
    assert sum(r["nodes"] for r in json.loads(versions.stdout)["items"]) == 2
    health = fleetctl_in_process("--db", two_clusters, "--context", "prod-us", "health", "-o", "json")
    assert json.loads(health.stdout)["metadata"]["nodes"] == 1
    assert "(prod-us)" in health.stderr


def test_health_prints_one_row_per_unhealthy_node_and_wide_prints_every_check(two_clusters: str) -> None:
    def check(code: str, status: Status) -> CheckResult:
        return CheckResult(code, status, f"{code} says {status.value}", remediation=f"fix {code}")

    with open_store(two_clusters) as store, store.write() as session:
        record_checks(
            session,
            "prod-eu",
            {
                "eu-1": [check("KATA013", Status.CRIT), check("KATA001", Status.WARN), check("KATA002", Status.OK)],
                "eu-2": [check("KATA005", Status.WARN), check("KATA002", Status.OK)],
            },
            at=datetime.now(UTC),
        )
    result = fleetctl_in_process("--db", two_clusters, "health", "--fail-on", "warn")
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "3 nodes: 0 ok, 1 unknown, 1 warn, 1 crit"  # us-1 has no checks: unknown, never ok
    header = lines.index(next(line for line in lines if line.startswith("NODE")))
    rows = [line.split(None, 4) for line in lines[header + 1 : lines.index("", header)]]
    assert rows == [
        ["eu-1", "prod-eu", "crit", "KATA013", "KATA013 says crit (+1 more: -o wide)"],
        ["eu-2", "prod-eu", "warn", "KATA005", "KATA005 says warn"],
    ]
    assert "  KATA013: fix KATA013" in lines
    wide = fleetctl_in_process("--db", two_clusters, "health", "-o", "wide").stdout.splitlines()
    assert sum(1 for line in wide if line.startswith(("eu-1 ", "eu-2 "))) == 3
    bad = fleetctl_in_process("--db", two_clusters, "health", "--fail-on", "critical")
    assert_clean_error(bad, 2)
    assert "error: --fail-on: 'critical' is not a health status" in bad.stderr


def test_a_context_the_store_never_collected_is_exit_2_naming_what_it_has(two_clusters: str) -> None:
    result = fleetctl_in_process("--db", two_clusters, "--context", "prod", "nodes")
    assert_clean_error(result, 2)
    assert "--context: the store has no cluster 'prod'" in result.stderr
    assert "fleetctl --context prod collect; the store has: prod-eu, prod-us" in result.stderr


def test_version_and_help_load_no_database_or_cluster_code() -> None:
    probe = (
        "import sys, contextlib, io\n"
        "from fleetctl.cli.app import run\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert run(['--version']) == 0 and run(['--help']) == 0 and run(['nodes', '--help']) == 0\n"
        "heavy = ('sqlalchemy', 'sqlmodel', 'alembic', 'kubernetes', 'textual', 'prometheus_api_client', 'yaml')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_nodes_and_query_on_an_up_to_date_sqlite_store_load_no_sqlalchemy(two_clusters: str) -> None:
    probe = (
        "import sys, contextlib, io\n"
        "from fleetctl.cli.app import run\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):\n"
        f"    assert run(['--db', {two_clusters!r}, 'nodes', '-o', 'name']) == 0\n"
        f"    assert run(['--db', {two_clusters!r}, '--context', 'prod-us', 'query', 'arch = s390x']) in (0, 1)\n"
        "heavy = ('sqlalchemy', 'sqlmodel', 'alembic', 'kubernetes', 'textual', 'prometheus_api_client')\n"
        "print(sorted(m for m in heavy if m in sys.modules), len(out.getvalue().splitlines()))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    loaded, lines = result.stdout.split("] ")
    assert loaded == "[" and int(lines) > 0, result.stdout


def test_a_reader_that_goes_away_is_a_quiet_exit_0(tmp_path: Path) -> None:
    """``fleetctl nodes -o json | head -c 1``: the write fails with EPIPE, and that is no error."""
    url = f"sqlite:///{tmp_path / 'big.db'}"
    with open_store(url) as store, store.write() as session:  # enough JSON to overflow a pipe's buffer
        record_snapshot(session, "prod-eu", [_facts(f"node-{i:04}", "amd64") for i in range(400)], at=datetime.now(UTC))
    fleetctl = Path(sys.executable).with_name("fleetctl")
    command = subprocess.Popen(
        [str(fleetctl), "--db", url, "nodes", "-o", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert command.stdout is not None and command.stderr is not None
    assert command.stdout.read(1) == b"{"
    command.stdout.close()  # the reader goes away before the rest is written
    with command.stderr:
        stderr = command.stderr.read().decode()
    assert command.wait(timeout=300) == 0, stderr
    assert "Traceback" not in stderr and "Broken pipe" not in stderr and "error" not in stderr, stderr


@pytest.mark.parametrize(
    ("argv", "built"),
    [
        (["--db", "sqlite:///x.db", "nodes", "-o", "name"], ["nodes"]),
        (["--db=sqlite:///x.db", "--context", "prod", "upgrade", "status"], ["upgrade"]),
        (["nodes", "--help"], ["nodes"]),
        (["--help"], None),
        (["nodez"], None),  # a typo gets the whole app, and with it the did-you-mean
        (["-ojson", "nodes"], None),  # a flag it does not know: the whole app parses it
        ([], None),
    ],
)
def test_start_up_builds_only_the_command_that_runs(argv: list[str], built: list[str] | None) -> None:
    from fleetctl.cli.app import _app_for, app

    chosen = _app_for(argv)
    if built is None:
        assert chosen is app
    else:
        names = [c.name for c in chosen.registered_commands] + [g.name for g in chosen.registered_groups]
        assert names == built and chosen.registered_callback is app.registered_callback


def test_describe_node_and_the_dashboards_node_view_show_one_report(two_clusters: str) -> None:
    from fleetctl.nodereport import sections
    from fleetctl.tui.data import describe_node
    from store.query.facts_read import read_node

    with open_store(two_clusters, create=False) as store:
        report = read_node(store, "eu-2", "prod-eu")[0]
        view = describe_node(store, "prod-eu", "eu-2")
    text = fleetctl_in_process("--db", two_clusters, "describe", "node", "eu-2").stdout
    parts = sections(report)
    assert [p.title for p in parts][:4] == ["Node", "Kata", "Host", "Checks"]
    for part in parts:
        assert part.title in view and (part.title == "Node" or f"{part.title}:" in text)
        for label, value in part.pairs:
            shown = "<none>" if value in (None, "") else str(value)
            assert f"{label}:" in text and shown in text and label in view and shown in view, (label, shown)
