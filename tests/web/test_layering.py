"""The web tier's import rules: no eventlet (only the entry point patches), no workers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "web"
MODULES = sorted(WEB.rglob("*.py"))


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_there_are_modules() -> None:
    assert len(MODULES) >= 10


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_module_imports_neither_eventlet_nor_workers(path: Path) -> None:
    assert not _imports(path) & {"eventlet", "gevent", "workers", "cli"}


def test_no_blocking_calls_in_web() -> None:
    for path in MODULES:
        text = path.read_text()
        for needle in ("subprocess", "ffprobe(", ".get(timeout", "AsyncResult", "time.sleep("):
            assert needle not in text, f"{path.name} uses {needle}"
