"""Click's usage errors in the one format: the command they belong to, plain words, a hint, exit 2."""

from __future__ import annotations

import pytest

from tests.support.cli import fleetctl_in_process


@pytest.mark.parametrize(
    ("args", "line", "hint"),
    [
        (["nodes", "--where"], "error: fleetctl nodes: Option '--where' requires an argument.", "fleetctl nodes --help"),
        (["health", "--fail-on"], "error: fleetctl health: Option '--fail-on' requires an argument.", "fleetctl health --help"),
        (["--db"], "error: fleetctl: Option '--db' requires an argument.", "fleetctl --help"),
        (["collect", "--parallel", "x"], "error: fleetctl collect: Invalid value for '--parallel': it must be a whole number",
         "fleetctl collect --help"),
        (["nodes", "--bogus"], "error: fleetctl nodes: No such option: --bogus", "fleetctl nodes --help"),
        (["sim", "serve", "--bogus"], "error: fleetctl sim serve: unrecognized arguments: --bogus",
         "fleetctl sim serve --help"),
        (["sim", "serve", "--nodes", "x"], "error: fleetctl sim serve: argument --nodes: invalid int value: 'x'",
         "fleetctl sim serve --help"),
    ],
)  # fmt: skip
def test_a_usage_error_names_its_command_in_plain_words(args: list[str], line: str, hint: str) -> None:
    got = fleetctl_in_process(*args)
    assert got.returncode == 2, got.stderr
    first, second = got.stderr.splitlines()[:2]
    assert first.startswith(line), got.stderr
    assert second == f"  hint: see `{hint}`"
    assert "Input should be" not in got.stderr and "Traceback" not in got.stderr
