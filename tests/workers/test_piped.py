"""run_piped: two FFmpegs joined by a pipe, what the second reads, and who failed first."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from tests.support.workers import ffmpeg_children, pid_exists
from workers.ffmpeg.process import run_piped

QUIET = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error"]


def producer(seconds: float | None, *, realtime: bool = False) -> list[str]:
    """testsrc2 encoded to NUT on stdout; endless (at native speed) when ``seconds`` is None."""
    source = "testsrc2=size=160x120:rate=25" + (f":duration={seconds}" if seconds else "")
    return [*QUIET, *(["-re"] if realtime else []), "-f", "lavfi", "-i", source,
            "-c:v", "mpeg4", "-f", "nut", "pipe:1"]


def consumer(output: Path, graph: str = "null") -> list[str]:
    return ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "nut", "-i", "pipe:0",
            "-vf", graph, "-c:v", "mpeg4", "-y", str(output)]


def frames(path: Path) -> int:
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                          "-show_entries", "stream=nb_read_frames", "-of", "json", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return int(json.loads(out)["streams"][0]["nb_read_frames"])


def test_the_consumer_reads_every_frame_the_producer_writes(tmp_path: Path) -> None:
    output = tmp_path / "out.mkv"
    runs = run_piped(producer(2), consumer(output), timeout_s=60)
    assert runs.ok and runs.failed_first is None, runs.consumer.error_line
    assert frames(output) == 50
    assert ffmpeg_children() == []


def test_a_consumer_that_fails_is_named_and_its_producer_killed(tmp_path: Path) -> None:
    started = time.monotonic()
    runs = run_piped(producer(None, realtime=True), consumer(tmp_path / "x.mkv", "nosuchfilter"),
                     timeout_s=60)
    assert time.monotonic() - started < 10  # not left writing into a pipe nobody reads
    assert runs.failed_first is runs.consumer and not runs.ok and not runs.stopped
    assert "nosuchfilter" in runs.consumer.error_line
    assert runs.producer.returncode != 0  # killed after it, or failed writing
    assert ffmpeg_children() == []


def test_a_producer_that_fails_is_named_first(tmp_path: Path) -> None:
    bad = [*QUIET, "-f", "lavfi", "-i", "nosuchsource=size=2x2", "-f", "nut", "pipe:1"]
    runs = run_piped(bad, consumer(tmp_path / "x.mkv"), timeout_s=60)
    assert runs.failed_first is runs.producer and not runs.ok
    assert "nosuchsource" in runs.producer.error_line
    assert ffmpeg_children() == []


def test_on_tick_false_stops_both_and_kills_their_groups(tmp_path: Path) -> None:
    seen: list[int] = []

    def tick() -> bool:
        seen.extend(p for p in ffmpeg_children() if p not in seen)
        return len(seen) < 2

    started = time.monotonic()
    runs = run_piped(producer(None, realtime=True), consumer(tmp_path / "x.mkv"), on_tick=tick)
    assert time.monotonic() - started < 10
    assert runs.stopped and runs.failed_first is None and not runs.ok
    assert len(seen) == 2 and not any(pid_exists(pid) for pid in seen)


def test_a_pair_over_its_time_is_stopped_and_says_so(tmp_path: Path) -> None:
    runs = run_piped(producer(None, realtime=True), consumer(tmp_path / "x.mkv"), timeout_s=0.5)
    assert runs.producer.timed_out and runs.failed_first is runs.producer
    assert "ran over" in runs.producer.error_line
    assert ffmpeg_children() == []
