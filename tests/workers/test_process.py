"""run_ffmpeg: progress, stopping, timeouts, drained pipes, niceness, and dying with its parent."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.ports import wait_for
from tests.support.workers import REPO_ROOT, child_pids, ffmpeg_children, pid_exists, process_name
from workers.ffmpeg.process import BackgroundFFmpeg, FFmpegRun, run_ffmpeg
from workers.ffmpeg.progress import Progress

PROGRESS = ["-progress", "pipe:1", "-nostats", "-stats_period", "0.25"]


def lavfi_null(seconds: float, *, realtime: bool, extra: tuple[str, ...] = ()) -> list[str]:
    """An FFmpeg that decodes testsrc2 to the null muxer, at native speed when ``realtime``."""
    return ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", *extra,
            *(["-re"] if realtime else []), "-f", "lavfi", "-i",
            f"testsrc2=duration={seconds}:size=160x120:rate=25", *PROGRESS, "-f", "null", "-"]


def test_progress_is_reported_with_increasing_out_time() -> None:
    seen: list[Progress] = []
    run = run_ffmpeg(lavfi_null(1.5, realtime=True), on_progress=seen.append)
    assert run.ok and run.returncode == 0 and not run.stopped and not run.timed_out
    times = [p.out_time_s for p in seen if p.out_time_s is not None]
    assert len(times) >= 3, seen
    assert times == sorted(times) and times[-1] > times[0]
    assert seen[-1].finished and seen[-1].frame in (37, 38)
    assert ffmpeg_children() == []


def test_on_tick_false_stops_ffmpeg_within_a_second() -> None:
    pids: list[int] = []
    asked: list[float] = []

    def tick() -> bool:
        pids.extend(p for p in ffmpeg_children() if p not in pids)
        if not pids:
            return True
        asked.append(time.monotonic())
        return False

    started = time.monotonic()
    run = run_ffmpeg(lavfi_null(60, realtime=True), on_tick=tick)
    returned = time.monotonic()
    assert run.stopped is True and run.ok is False and run.timed_out is False
    assert len(asked) == 1 and returned - asked[0] < 1.0
    assert returned - started < 10
    assert len(pids) == 1 and not pid_exists(pids[0])


def test_a_flood_of_stderr_does_not_deadlock() -> None:
    args = lavfi_null(3, realtime=False, extra=("-debug_ts",))
    args[args.index("error")] = "debug"  # tens of KiB on stderr, more than a pipe buffer
    seen: list[Progress] = []
    run = run_ffmpeg(args, on_progress=seen.append, timeout_s=60)
    assert run.ok, run.error_line
    assert seen and seen[-1].finished and seen[-1].frame == 75
    assert 0 < len(run.stderr_lines) <= 60  # only the tail is kept


def test_timeout_stops_ffmpeg() -> None:
    started = time.monotonic()
    run = run_ffmpeg(lavfi_null(60, realtime=True), timeout_s=0.5)
    assert time.monotonic() - started < 5
    assert run.timed_out is True and run.stopped is False and run.ok is False
    assert "ran over" in run.error_line
    assert ffmpeg_children() == []


def test_ffmpeg_runs_niced_in_its_own_process_group() -> None:
    facts: dict[str, int] = {}

    def tick() -> bool:
        pids = ffmpeg_children()
        if not pids:
            return True
        stat = Path(f"/proc/{pids[0]}/stat").read_text()
        fields_after_comm = stat.rsplit(")", 1)[1].split()
        facts.update(pid=pids[0], nice=int(fields_after_comm[16]), pgid=os.getpgid(pids[0]),
                     sid=os.getsid(pids[0]))
        autogroup = Path(f"/proc/{pids[0]}/autogroup")
        if autogroup.exists():  # "/autogroup-123 nice 5": the session's own rank
            facts["autogroup_nice"] = int(autogroup.read_text().split()[-1])
        return False

    run = run_ffmpeg(lavfi_null(60, realtime=True), on_tick=tick, nice=5)
    assert run.stopped
    assert facts["nice"] == min(19, os.nice(0) + 5)  # field 19 of /proc/<pid>/stat
    assert facts["pgid"] == facts["pid"] == facts["sid"]
    assert facts["pgid"] != os.getpgid(0)
    if "autogroup_nice" in facts:
        assert facts["autogroup_nice"] == 5


CHILD = """
import sys
from workers.ffmpeg.process import run_ffmpeg
run_ffmpeg(sys.argv[1:])
"""


def test_ffmpeg_dies_when_its_parent_is_killed() -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD, *lavfi_null(60, realtime=True)],
                             cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ffmpeg_pid = 0
    try:
        [ffmpeg_pid] = wait_for(
            lambda: [p for p in child_pids(child.pid) if process_name(p) == "ffmpeg"],
            timeout=20, message="ffmpeg grandchild")
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
        wait_for(lambda: not pid_exists(ffmpeg_pid), timeout=5, message="ffmpeg to die")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if ffmpeg_pid and pid_exists(ffmpeg_pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(ffmpeg_pid, signal.SIGKILL)
        assert child.stderr is not None
        child.stderr.close()


def test_a_failing_ffmpeg_reports_its_own_error_line() -> None:
    args = lavfi_null(1, realtime=False)
    args[args.index("null")] = "no_such_muxer"
    run = run_ffmpeg(args)
    assert run.returncode != 0 and not run.ok
    assert "no_such_muxer" in run.error_line


def test_error_line_strips_the_context_prefix() -> None:
    run = FFmpegRun(1, ["", "[h264_nvenc @ 0x55d0c0ffee00] Cannot load libcuda.so.1",
                        "Conversion failed!"])
    assert run.error_line == "Cannot load libcuda.so.1"
    assert FFmpegRun(1, ["[in#0/lavfi @ 0xabc] Error opening input"]).error_line == (
        "Error opening input")
    assert FFmpegRun(1, []).error_line == "FFmpeg exited with code 1 and printed no error."
    assert FFmpegRun(-9, []).error_line == "FFmpeg was killed by signal 9."
    assert FFmpegRun(0, []).ok and not FFmpegRun(0, [], stopped=True).ok


def test_error_line_strips_nested_context_prefixes() -> None:
    line = ("[h264_nvenc @ 0x563e77399a00] [Eval @ 0x7ffd8628ffb0] Undefined constant or "
            "missing '(' in 'bogus'")
    assert FFmpegRun(1, [line]).error_line == "Undefined constant or missing '(' in 'bogus'"


def test_a_background_ffmpeg_runs_beside_other_work_and_reports_how_it_ended() -> None:
    with BackgroundFFmpeg(lavfi_null(4.0, realtime=True)) as background:
        [pid] = wait_for(lambda: ffmpeg_children(), timeout=10,
                         message="the background ffmpeg")
        beside = run_ffmpeg(lavfi_null(0.2, realtime=False))  # while the first still runs
        assert beside.ok and pid_exists(pid)
        run = background.wait(timeout_s=30)
    assert run.ok and run.returncode == 0
    assert not pid_exists(pid)


def test_a_background_ffmpeg_is_killed_when_its_block_is_left_and_on_its_timeout() -> None:
    with BackgroundFFmpeg(lavfi_null(60, realtime=True)) as background:
        [pid] = wait_for(lambda: ffmpeg_children(), timeout=10,
                         message="the background ffmpeg")
    wait_for(lambda: not pid_exists(pid), timeout=5, message="the ffmpeg left behind to die")
    with BackgroundFFmpeg(lavfi_null(60, realtime=True)) as background:
        started = time.monotonic()
        run = background.wait(timeout_s=0.5)
        assert time.monotonic() - started < 10
    assert run.timed_out and not run.ok
    assert "ran over" in run.error_line


def test_a_failing_background_ffmpeg_reports_its_own_error_line() -> None:
    args = lavfi_null(1, realtime=False)
    args[args.index("null")] = "no_such_muxer"
    with BackgroundFFmpeg(args) as background:
        run = background.wait(timeout_s=30)
    assert run.returncode != 0 and "no_such_muxer" in run.error_line
