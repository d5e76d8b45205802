"""What import-linter cannot see: the headless CLI never loads textual at run time, and the store's
public API is pinned. The layers themselves are import-linter contracts (pyproject.toml), checked
by ``make lint``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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


def test_no_module_imports_itself_round_a_circle() -> None:
    import grimp  # import-linter's graph; layers cannot say "no circles inside a package"

    graph = grimp.build_graph(
        "store", "clients", "collectors", "upgrades", "fleetctl", "simulator", exclude_type_checking_imports=True
    )
    circles = sorted(
        {
            tuple(sorted((module, imported)))
            for module in graph.modules
            for imported in graph.find_modules_directly_imported_by(module)
            if graph.find_shortest_chain(importer=imported, imported=module)
        }
    )
    assert circles == []
