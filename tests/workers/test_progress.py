"""ProgressParser on FFmpeg's real ``-progress`` blocks."""

from __future__ import annotations

import subprocess

import pytest

from workers.ffmpeg.progress import Progress, ProgressParser

REAL_BLOCK = """\
frame=120
fps=59.87
stream_0_0_q=28.0
bitrate=  457.4kbits/s
total_size=262192
out_time_us=4586667
out_time_ms=4586667
out_time=00:00:04.586667
dup_frames=0
drop_frames=0
speed=13.3x
progress=continue
"""

START_BLOCK = """\
frame=0
fps=0.00
stream_0_0_q=0.0
bitrate=N/A
total_size=N/A
out_time_us=-9223372036854775807
out_time_ms=-9223372036854775807
out_time=-00:00:00.000000
dup_frames=0
drop_frames=0
speed=N/A
progress=continue
"""


def feed(parser: ProgressParser, text: str) -> list[Progress]:
    results = [parser.feed(line + "\n") for line in text.splitlines()]
    return [r for r in results if r is not None]


def snapshot(**values: object) -> Progress:
    base: dict[str, object] = {"out_time_s": None, "frame": None, "fps": None,
                               "bitrate_kbps": None, "speed": None, "total_size": None,
                               "finished": False}
    return Progress(**{**base, **values})  # type: ignore[arg-type]


def test_a_real_block_gives_one_snapshot_at_its_progress_line() -> None:
    parser = ProgressParser()
    lines = REAL_BLOCK.splitlines()
    assert all(parser.feed(line) is None for line in lines[:-1])
    assert parser.feed(lines[-1]) == Progress(out_time_s=4.586667, frame=120, fps=59.87,
                                              bitrate_kbps=457.4, speed=13.3,
                                              total_size=262192, finished=False)


def test_na_values_and_negative_out_time_are_unknown() -> None:
    [progress] = feed(ProgressParser(), START_BLOCK)
    assert progress == snapshot(frame=0, fps=0.0)
    assert progress.percent(10.0) == 0.0
    assert progress.eta_s(10.0) is None


def test_blocks_do_not_leak_into_each_other_and_end_means_finished() -> None:
    parser = ProgressParser()
    first, second = feed(parser, REAL_BLOCK + "frame=130\nspeed= 1.5x\nprogress=end\n")
    assert first.frame == 120
    assert second == snapshot(frame=130, speed=1.5, finished=True)


def test_out_time_ms_is_used_when_out_time_us_is_missing() -> None:
    [progress] = feed(ProgressParser(), "out_time_ms=1500000\nprogress=continue\n")
    assert progress.out_time_s == 1.5


def test_lines_without_equals_and_garbage_values_are_ignored() -> None:
    [progress] = feed(ProgressParser(), "hello\nframe=abc\nfps=\nspeed=fastx\nprogress=continue")
    assert progress == snapshot()


@pytest.mark.parametrize("out_time_s, duration, expected", [
    (5.0, 10.0, 50.0), (12.0, 10.0, 100.0), (None, 10.0, 0.0), (0.0, 10.0, 0.0),
    (-1.0, 10.0, 0.0), (5.0, 0.0, 0.0), (5.0, -3.0, 0.0),
])
def test_percent_is_clamped(out_time_s: float | None, duration: float, expected: float) -> None:
    assert snapshot(out_time_s=out_time_s).percent(duration) == expected


def test_finished_is_always_complete() -> None:
    done = snapshot(out_time_s=1.0, finished=True)
    assert (done.percent(10.0), done.eta_s(10.0)) == (100.0, 0.0)


@pytest.mark.parametrize("out_time_s, speed, duration, expected", [
    (4.0, 2.0, 10.0, 3.0), (10.0, 2.0, 10.0, 0.0), (12.0, 2.0, 10.0, 0.0),
    (4.0, None, 10.0, None), (4.0, 0.0, 10.0, None), (None, 2.0, 10.0, None),
    (4.0, 2.0, 0.0, None), (0.0, 4.0, 10.0, 2.5),
])
def test_eta(out_time_s: float | None, speed: float | None, duration: float,
             expected: float | None) -> None:
    assert snapshot(out_time_s=out_time_s, speed=speed).eta_s(duration) == expected


def test_real_ffmpeg_progress_output() -> None:
    out = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
         "testsrc2=duration=2:size=160x120", "-progress", "pipe:1", "-nostats", "-f", "null",
         "-"], capture_output=True, text=True, check=True, timeout=60).stdout
    snapshots = feed(ProgressParser(), out)
    assert snapshots, out
    times = [s.out_time_s for s in snapshots if s.out_time_s is not None]
    assert times == sorted(times)
    assert times[-1] == pytest.approx(2.0, abs=0.05)
    assert [s.finished for s in snapshots] == [False] * (len(snapshots) - 1) + [True]
    assert snapshots[-1].frame == 50
    assert snapshots[-1].percent(2.0) == 100.0
