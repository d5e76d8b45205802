"""Imports only go down: store < collectors < upgrades < fleetctl; the simulator imports none."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ["store", "collectors", "upgrades", "fleetctl"]
FORBIDDEN = {
    "store": {"collectors", "upgrades", "fleetctl", "simulator"},
    "collectors": {"upgrades", "fleetctl", "simulator"},
    "upgrades": {"fleetctl", "simulator"},
    "fleetctl": set(),
    "simulator": {"store", "collectors", "upgrades", "fleetctl"},
}


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_lower_layers(package: str) -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {bad}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for bad in sorted(_imported_packages(path) & FORBIDDEN[package])
    ]
    assert offenders == []


def test_headless_cli_does_not_import_textual() -> None:
    # Quick commands must start fast; the TUI's import cost belongs to the TUI alone.
    code = "import sys; import fleetctl.cli; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


def test_store_public_api_is_pinned() -> None:
    import store

    assert sorted(store.__all__) == store.__all__
    for name in store.__all__:
        assert hasattr(store, name), name
