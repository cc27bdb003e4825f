"""How FFmpeg and ffprobe are started: their own session, niced, with a death signal, through
setpriv and /bin/sh (no preexec_fn), or the preexec_fn where those are missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workers.ffmpeg import launch
from workers.ffmpeg.launch import launch_argv, run_media_tool

REPORTS_HOW_IT_RUNS = """#!{python}
import ctypes, json, os, signal
libc = ctypes.CDLL(None)
deathsig = ctypes.c_int(0)
libc.prctl(2, ctypes.byref(deathsig))  # PR_GET_PDEATHSIG
autogroup = open("/proc/self/autogroup").read().split()[-1] if os.path.exists(
    "/proc/self/autogroup") else None
print(json.dumps({{"nice": os.nice(0), "own_session": os.getsid(0) == os.getpid(),
                  "parent": os.getppid(), "deathsig": deathsig.value,
                  "autogroup_nice": autogroup}}))
"""


@pytest.fixture
def reporter(tmp_path: Path) -> Path:
    tool = tmp_path / "ffprobe"
    tool.write_text(REPORTS_HOW_IT_RUNS.format(python=sys.executable))
    tool.chmod(0o755)
    return tool


@pytest.mark.parametrize("way", ["setpriv", "preexec_fn"])
def test_a_media_tool_runs_niced_in_its_own_session_and_dies_with_this_process(
        reporter: Path, way: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if way == "setpriv" and launch._launcher() is None:
        pytest.skip("no setpriv or nice on this machine")
    if way == "preexec_fn":
        monkeypatch.setattr(launch, "_launcher", lambda: None)
    done = run_media_tool([str(reporter)], 6, timeout_s=30, text=True)
    assert done.returncode == 0, done.stderr
    assert done.args == [str(reporter)]
    seen = json.loads(done.stdout)
    assert seen["nice"] == min(19, os.nice(0) + 6)
    assert seen["own_session"] is True
    assert seen["parent"] == os.getpid()  # exec'd in place: no launcher left in between
    assert seen["deathsig"] == 9
    if seen["autogroup_nice"] is not None:
        assert seen["autogroup_nice"] == "6"


def test_nice_zero_leaves_the_priority_alone(reporter: Path) -> None:
    seen = json.loads(run_media_tool([str(reporter)], 0, timeout_s=30, text=True).stdout)
    assert seen["nice"] == os.nice(0)
    assert seen["deathsig"] == 9


def test_a_launch_whose_parent_is_gone_runs_nothing(tmp_path: Path) -> None:
    """The parent may die before setpriv sets the death signal; the shell then finds another
    parent (a reaper) and must not start the tool, which nothing would ever kill."""
    if launch._launcher() is None:
        pytest.skip("no setpriv or nice on this machine")
    marker = tmp_path / "ran"
    argv = launch_argv(["touch", str(marker)], 5, parent=os.getpid() + 1_000_000)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert not marker.exists()
    argv = launch_argv(["touch", str(marker)], 5, parent=os.getpid())
    assert subprocess.run(argv, timeout=30).returncode == 0
    assert marker.exists()


def test_a_missing_tool_raises_as_popen_would(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        run_media_tool([str(tmp_path / "no-such-ffprobe")], 5, timeout_s=30)


def test_a_tool_over_its_time_is_killed(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        run_media_tool(["sleep", "30"], 5, timeout_s=0.3)
    assert time.monotonic() - started < 5  # killed, not waited for
