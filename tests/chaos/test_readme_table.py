"""The README's Reliability and security table names only tests that exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

pytestmark = [pytest.mark.chaos]

ROOT = Path(__file__).resolve().parents[2]


def section() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split("## Reliability and security\n", 1)[1].split("\n## ", 1)[0]


def test_every_test_named_in_the_table_exists() -> None:
    named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", section())
    assert len(named) >= 20, named
    for path, name in named:
        tree = ast.parse((ROOT / path).read_text())
        functions = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
        assert name in functions, f"{path}::{name} is named in README.md but does not exist"


def test_every_test_of_a_chaos_file_in_the_table_is_listed() -> None:
    """A chaos file the table cites has all its (non-xfail) tests in the table."""
    table = section()
    cited = sorted(set(re.findall(r"`tests/chaos/(test_\w+\.py)::", table)))
    assert len(cited) >= 5, cited
    for name in cited:
        path = ROOT / "tests" / "chaos" / name
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_") and not any(
                    "xfail" in ast.unparse(d) for d in node.decorator_list):
                ref = f"tests/chaos/{path.name}::{node.name}"
                assert ref in table, f"{ref} is missing from README.md's reliability table"
