"""``fleetctl schedule`` as a user runs it: add, list, next, remove, and refusals that write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.support.cli import assert_clean_error, fleetctl, fleetctl_in_process

PLAN = {
    "apiVersion": "fleetctl.io/v1",
    "kind": "UpgradePlan",
    "metadata": {"name": "nightly"},
    "spec": {"target": "4.1.0", "window": {"schedule": "0 1 * * *", "duration": "1h"}},
}


@pytest.fixture
def plan(tmp_path: Path) -> str:
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(PLAN))
    return str(path)


def run(db: str, *args: str):  # type: ignore[no-untyped-def]
    """In-process: the messages and codes, without an interpreter start each."""
    return fleetctl_in_process("--db", db, "schedule", *args)


def test_add_list_next_and_remove(sqlite_url: str, plan: str) -> None:
    added = fleetctl(  # the one subprocess, as a user runs it
        "--db", sqlite_url, "schedule", "add", plan, "--window", "0 22 * * 1-5", "--duration", "4h", "--tz", "Europe/Berlin",
        "--exclude", "2026-12-24..2026-12-26", "-o", "json",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    doc = json.loads(added.stdout)
    assert doc["name"] == "nightly" and doc["duration"] == "4h" and doc["exclude"] == ["2026-12-24..2026-12-26"]
    listed = json.loads(run(sqlite_url, "list", "-o", "json").stdout)["items"]
    assert [(i["name"], i["window"], i["timeZone"]) for i in listed] == [("nightly", "0 22 * * 1-5", "Europe/Berlin")]
    nxt = json.loads(run(sqlite_url, "next", "nightly", "-n", "4", "-o", "json").stdout)["items"]
    assert len(nxt) == 4
    assert all(i["local"].split()[0] in ("Mon", "Tue", "Wed", "Thu", "Fri") for i in nxt)  # cron's 1-5
    assert all(i["local"].split()[2] == "22:00" for i in nxt)
    table = run(sqlite_url, "next").stdout
    assert table.splitlines()[0].split()[:2] == ["SCHEDULE", "OPENS"]
    assert run(sqlite_url, "remove", "nightly").returncode == 0
    assert json.loads(run(sqlite_url, "list", "-o", "json").stdout)["items"] == []


def test_a_second_schedule_needs_its_own_name(sqlite_url: str, plan: str) -> None:
    assert run(sqlite_url, "add", plan, "--window", "0 1 * * *", "--duration", "1h").returncode == 0
    again = run(sqlite_url, "add", plan, "--window", "0 2 * * *", "--duration", "1h")
    assert_clean_error(again, 2)
    assert "--name" in again.stderr
    assert run(sqlite_url, "add", plan, "--window", "0 2 * * *", "--duration", "1h", "--name", "other").returncode == 0


@pytest.mark.parametrize(
    ("args", "where", "words"),
    [
        (["--window", "0 24 * * *", "--duration", "4h"], "--window", "not a cron schedule"),
        (["--window", "FREQ=SOMETIMES", "--duration", "4h"], "--window", "not an RRULE"),
        (["--window", "FREQ=HOURLY;INTERVAL=6", "--duration", "1h"], "--window", "DTSTART"),
        (["--window", "0 1 * * *", "--duration", "4h", "--tz", "Europe/Atlantis"], "--tz", "unknown time zone"),
        (["--window", "0 1 * * *", "--duration", "four hours"], "--duration", ""),
        (["--window", "0 1 * * *", "--duration", "0s"], "--duration", "longer than zero"),
        (["--window", "0 1 * * *", "--duration", "1h", "--exclude", "2026-12-32"], "--exclude", "not a date"),
    ],
)
def test_bad_windows_are_refused_and_nothing_is_written(
    sqlite_url: str, plan: str, args: list[str], where: str, words: str
) -> None:
    result = run(sqlite_url, "add", plan, *args)
    assert_clean_error(result, 2)
    assert where in result.stderr and words in result.stderr and "hint:" in result.stderr
    assert json.loads(run(sqlite_url, "list", "-o", "json").stdout)["items"] == []


def test_unknown_schedules_are_named(sqlite_url: str) -> None:
    for args in (["remove", "nope"], ["next", "7"]):
        result = run(sqlite_url, *args)
        assert_clean_error(result, 2)
        assert "there is no schedule" in result.stderr and "fleetctl schedule list" in result.stderr
