"""The README stays true: its configuration table and its commands match the code."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

from cli.parser import build_parser
from common.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
README = (REPO_ROOT / "README.md").read_text()


def test_config_table_is_current() -> None:
    result = subprocess.run([sys.executable, "deploy/gen_config_table.py", "--check"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for name, default, _ in Settings.documentation():
        row = next(line for line in README.splitlines() if line.startswith(f"| `{name}` |"))
        assert row.split(" | ")[1] == (f"`{default}`" if default else "(unset)")


def test_stale_table_is_reported(tmp_path: Path) -> None:
    stale = README.replace("| `FFCLUSTER_PORT` | `5000` |", "| `FFCLUSTER_PORT` | `8000` |")
    assert stale != README
    copy = tmp_path / "README.md"
    copy.write_text(stale)
    command = [sys.executable, "deploy/gen_config_table.py", "--readme", str(copy)]
    checked = subprocess.run([*command, "--check"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=60)
    assert checked.returncode == 1 and "configuration table is stale" in checked.stderr
    written = subprocess.run([*command, "--write"], cwd=REPO_ROOT, timeout=60)
    assert written.returncode == 0 and copy.read_text() == README


def test_quickstart_is_two_commands() -> None:
    quickstart = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```\n(.*?)```", quickstart, re.S)
    assert [b.strip() for b in blocks] == ["make run", "make test"]
    assert "http://127.0.0.1:5000" in quickstart


def test_ffcluster_examples_parse() -> None:
    lines = [line.strip() for block in re.findall(r"```\n(.*?)```", README, re.S)
             for line in block.splitlines()]
    examples = [line for line in lines if line.startswith(".venv/bin/ffcluster ")]
    assert len(examples) >= 3
    for line in examples:
        args = build_parser().parse_args(shlex.split(line)[1:])
        assert args.command in ("submit", "status")


def test_make_targets_exist() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z]+):", makefile, re.M))
    assert {"setup", "run", "test", "lint", "bench", "clean"} <= targets
    assert set(re.findall(r"`make ([a-z]+)", README)) <= targets
