"""The import rules between tiers, checked on every module's syntax tree.

``common/`` imports no tier; ``web/`` and ``workers/`` import ``common/`` and never each
other (nor ``cli/``); only ``cli/`` and ``bench/`` may import both. Only the web entry
point may depend on eventlet or gevent.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TIERS = ("common", "web", "workers", "cli", "bench")
FORBIDDEN = {
    "common": {"web", "workers", "cli", "bench", "tests", "eventlet", "gevent"},
    "web": {"workers", "cli", "bench", "tests", "eventlet", "gevent"},
    "workers": {"web", "cli", "bench", "tests", "eventlet", "gevent"},
    "cli": {"bench", "tests"},
    "bench": set(),
}
EVENTLET_ENTRY_POINTS = {Path("cli/web.py")}


def _modules() -> list[Path]:
    return sorted(p.relative_to(ROOT) for tier in TIERS for p in (ROOT / tier).rglob("*.py"))


def imported_packages(path: Path) -> set[str]:
    """Top-level package names that a module imports (absolute imports only)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse((ROOT / path).read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_every_tier_has_modules() -> None:
    tiers = {path.parts[0] for path in _modules()}
    assert tiers == set(TIERS)


@pytest.mark.parametrize("path", _modules(), ids=str)
def test_module_imports_only_what_its_tier_may(path: Path) -> None:
    forbidden = FORBIDDEN[path.parts[0]]
    if path in EVENTLET_ENTRY_POINTS:
        forbidden = forbidden - {"eventlet", "gevent"}
    assert not imported_packages(path) & forbidden


def test_the_checker_sees_imports(tmp_path: Path) -> None:
    sample = ROOT / "common" / "jobs.py"
    assert "common" in imported_packages(sample.relative_to(ROOT))
