"""The fleetctl command as a user runs it, with exit codes and stderr checked: a subprocess for the
smoke tests (help, version, db, demo), in-process (the same ``run()`` boundary) for messages and codes."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from store.migrate import head_revision
from tests.support.cli import FLEETCTL, assert_clean_error, fleetctl, fleetctl_in_process


def test_help_lists_the_commands() -> None:
    result = fleetctl("--help")
    assert result.returncode == 0
    assert "db" in result.stdout and "--kubeconfig" in result.stdout and "--context" in result.stdout


def test_version() -> None:
    result = fleetctl("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("fleetctl ")


def test_db_upgrade_creates_the_default_store_and_db_info_describes_it() -> None:
    db_file = Path(os.environ["XDG_DATA_HOME"]) / "fleetctl" / "fleetctl.db"
    missing = fleetctl("db", "info")
    assert_clean_error(missing, 2)
    assert f"store: there is no fleetctl store yet at {db_file} (the default)" in missing.stderr
    assert not db_file.exists()
    created = fleetctl("db", "upgrade")
    assert created.returncode == 0 and f"note: created a new fleetctl store at {db_file}" in created.stderr
    result = fleetctl("db", "info")
    assert result.returncode == 0, result.stderr
    assert "Backend:  sqlite" in result.stdout
    assert "node_change" in result.stdout


def test_db_info_json_is_an_enveloped_document(sqlite_url: str) -> None:
    assert fleetctl_in_process("--db", sqlite_url, "db", "upgrade").returncode == 0
    result = fleetctl_in_process("--db", sqlite_url, "db", "info", "-o", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["apiVersion"], data["kind"], data["backend"]) == ("fleetctl.io/v1", "DatabaseInfo", "sqlite")
    assert data["revision"] == data["head"]
    assert data["tables"]["node"] == 0


@pytest.mark.postgres
def test_db_info_on_postgres_hides_the_password(pg_url: str) -> None:
    # The test server trusts loopback, so any password logs in; it must still never show.
    with_password = pg_url.replace("postgresql://postgres@", "postgresql://postgres:pa55word@")
    result = fleetctl_in_process("db", "info", "-o", "yaml", env={"FLEETCTL_DB": with_password})
    assert result.returncode == 0, result.stderr
    assert "backend: postgresql" in result.stdout
    assert "pa55word" not in result.stdout + result.stderr
    assert "postgres:***@" in result.stdout


def test_unreachable_postgres_exits_3_without_the_password() -> None:
    result = fleetctl_in_process("--db", "postgresql://u:secret@127.0.0.1:1/x", "db", "info")
    assert_clean_error(result, 3)
    assert "secret" not in result.stderr
    assert "127.0.0.1" in result.stderr and "hint:" in result.stderr


def test_bad_database_url_exits_2() -> None:
    result = fleetctl_in_process("db", "info", env={"FLEETCTL_DB": "mysql://u:secret@h/x"})
    assert_clean_error(result, 2)
    assert "unsupported database 'mysql'" in result.stderr
    assert "secret" not in result.stderr


def test_bad_config_file_exits_2_and_names_the_field(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('outptu = "json"\n')
    result = fleetctl_in_process("--config", str(cfg), "db", "info")
    assert_clean_error(result, 2)
    assert "unknown field 'outptu'" in result.stderr and "did you mean 'output'" in result.stderr


def test_config_file_sets_the_database(tmp_path: Path) -> None:
    db = tmp_path / "from-config.db"
    (Path(os.environ["XDG_CONFIG_HOME"]) / "fleetctl").mkdir(parents=True)
    (Path(os.environ["XDG_CONFIG_HOME"]) / "fleetctl" / "config.toml").write_text(f'db = "sqlite:///{db}"\n')
    assert fleetctl_in_process("db", "upgrade").returncode == 0
    result = fleetctl_in_process("db", "info", "-o", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["path"] == str(db)


def test_unknown_output_format_exits_2() -> None:
    result = fleetctl_in_process("db", "info", "-o", "xml")
    assert_clean_error(result, 2)
    assert "use one of table, json, yaml" in result.stderr


def test_unknown_command_exits_2() -> None:
    assert_clean_error(fleetctl_in_process("frobnicate"), 2)


def test_db_upgrade_and_its_dry_run(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()  # a database file that was never migrated
    sqlite_url = f"sqlite:///{path}"
    dry = fleetctl_in_process("--db", sqlite_url, "db", "upgrade", "--dry-run")
    assert dry.returncode == 0 and "would be migrated through: 0001, 0002, 0003" in dry.stdout
    real = fleetctl_in_process("--db", sqlite_url, "db", "upgrade")
    assert real.returncode == 0 and f"migrated from empty to {head_revision()}" in real.stdout
    again = fleetctl_in_process("--db", sqlite_url, "db", "upgrade")
    assert "nothing to do" in again.stdout


def test_no_command_in_a_pipe_prints_the_help() -> None:
    result = fleetctl()
    assert result.returncode == 0 and "tui" in result.stdout and "upgrade" in result.stdout


def test_demo_sets_up_a_simulated_fleet_and_store() -> None:
    result = fleetctl("demo", "--no-tui", "--profile", "small")
    assert result.returncode == 0, result.stderr
    assert "demo fleet: 30 nodes" in result.stdout and "upgrade-plan.yaml" in result.stdout


def test_demo_screenshot_is_the_dashboard_as_svg(tmp_path: Path) -> None:
    target = tmp_path / "shot" / "fleet.svg"
    result = fleetctl("demo", "--profile", "small", "--screenshot", str(target))
    assert result.returncode == 0, result.stderr
    svg = target.read_text()
    assert svg.startswith("<svg") and "30&#160;of&#160;30&#160;nodes" in svg and "kata-amd64-0000" in svg


def test_headless_demo_stops_at_the_s390x_gate_and_rolls_back() -> None:
    result = subprocess.run(
        [*FLEETCTL, "demo", "--headless", "--profile", "small", "--time-scale", "50"],
        capture_output=True, text=True, timeout=240, env={**os.environ},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    summary = next(line for line in result.stdout.splitlines() if line.startswith("Summary:"))
    assert summary.startswith("Summary: the gate 'scrape-failures' stopped the rollout at wave ")
    assert ", the first wave with s390x nodes; " in summary and "NOT" not in summary
    assert "targets have two good scrapes" in result.stdout  # it waited for Prometheus before starting
    assert "confirms every node is back" in result.stdout
