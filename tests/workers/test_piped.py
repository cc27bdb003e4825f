"""run_piped: two FFmpegs joined by a pipe, what the second reads, and who failed first."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.support.workers import ffmpeg_children, pid_exists
from workers.ffmpeg.piped import run_piped

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


FAILS_AFTER_CLOSING_ITS_OUTPUT = """#!{python}
import os, sys, time
os.write(1, b"partial")
os.close(1)  # its reader sees the end of its input now, before this process fails
time.sleep(0.4)
sys.stderr.write("Error setting option preset to value nosuchpreset.\\n")
sys.exit(1)
"""

FAILS_AT_THE_END_OF_ITS_INPUT = """#!{python}
import sys
sys.stdin.buffer.read()
sys.stderr.write("pipe:0: No main startcode found\\n")
sys.exit(1)
"""


def stand_in(folder: Path, name: str, script: str) -> str:
    tool = folder / name
    tool.write_text(script.format(python=sys.executable))
    tool.chmod(0o755)
    return str(tool)


def test_a_producer_that_fails_is_named_even_when_its_consumer_exits_first(
        tmp_path: Path) -> None:
    """The consumer fails on its input ending early, before the producer has exited: the
    producer's own failure is the pair's, not the consumer's consequence of it."""
    runs = run_piped([stand_in(tmp_path, "producer", FAILS_AFTER_CLOSING_ITS_OUTPUT)],
                     [stand_in(tmp_path, "consumer", FAILS_AT_THE_END_OF_ITS_INPUT)],
                     timeout_s=30)
    assert runs.consumer.returncode == 1 and runs.producer.returncode == 1
    assert runs.failed_first is runs.producer
    assert "nosuchpreset" in runs.producer.error_line


def test_a_producer_the_consumer_left_is_not_named(tmp_path: Path) -> None:
    """A producer whose reader is gone fails with EPIPE: the consumer's failure came first."""
    runs = run_piped(producer(None), consumer(tmp_path / "x.mkv", "nosuchfilter"), timeout_s=60)
    assert runs.failed_first is runs.consumer
    assert "nosuchfilter" in runs.consumer.error_line
