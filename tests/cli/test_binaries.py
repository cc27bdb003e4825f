"""Missing system programs get one sentence on how to install them and exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli.binaries import require
from cli.errors import CliError

REPO_ROOT = Path(__file__).resolve().parents[2]


def _env_without_programs(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FFCLUSTER_")}
    empty = tmp_path / "empty-bin"
    empty.mkdir(exist_ok=True)
    return {**env, "PATH": str(empty), **extra}


def test_require_names_every_missing_program(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CliError) as exc:
        require("up", ["redis-server", "ffmpeg", "ffprobe"])
    assert exc.value.code == 2
    assert str(exc.value) == (
        "`ffcluster up` needs redis-server, ffmpeg and ffprobe, which are not installed: run "
        "`make setup`, or `sudo apt-get install ffmpeg redis-server` on Debian or Ubuntu, or "
        "`brew install ffmpeg redis` on macOS."
    )


def test_require_passes_when_present(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    program = tmp_path / "ffmpeg"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert require("worker", ["ffmpeg"]) is None


def test_up_without_redis_server(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "up", "--data-dir", str(tmp_path / "data")],
        cwd=REPO_ROOT, env=_env_without_programs(tmp_path), capture_output=True, text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("ffcluster: `ffcluster up` needs redis-server, ffmpeg and ")
    assert "sudo apt-get install ffmpeg redis-server" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "data").exists()


def test_up_with_external_redis_needs_only_ffmpeg(tmp_path: Path) -> None:
    env = _env_without_programs(tmp_path, FFCLUSTER_REDIS_URL="redis://127.0.0.1:1/0")
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "up", "--data-dir", str(tmp_path / "data")],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "ffcluster: `ffcluster up` needs ffmpeg and ffprobe, which are not installed: run "
        "`make setup`, or `sudo apt-get install ffmpeg` on Debian or Ubuntu, or "
        "`brew install ffmpeg` on macOS.\n"
    )


def test_worker_without_ffmpeg(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "worker", "--gpu", "off"],
        cwd=REPO_ROOT, env=_env_without_programs(tmp_path), capture_output=True, text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("ffcluster: `ffcluster worker` needs ffmpeg and ffprobe")
