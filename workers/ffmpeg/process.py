"""Run FFmpeg as a well-behaved child: own process group, drained pipes, dies with its parent."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from workers.ffmpeg.launch import start_media_tool
from workers.ffmpeg.progress import Progress, ProgressParser

log = logging.getLogger(__name__)

STDERR_LINES_KEPT = 60
TICK_S = 0.05
"""How often the run loop wakes without output: a progress block held back by the 4 Hz
throttle goes out within this of falling due, not one FFmpeg stats period later."""
_CONTEXT_PREFIX = re.compile(r"^(?:\[[^\]]+ @ 0x[0-9a-f]+\]\s*)+")

ProgressCallback = Callable[[Progress], None]
TickCallback = Callable[[], bool]
"""Called after each progress block and every 50 ms; False stops FFmpeg (canceled, lease lost)."""


PIXEL_LIMIT_MESSAGE = "exceeds specified max pixel count"
"""How libavutil says a frame is over ``-max_pixels`` (its own wording, since FFmpeg 3.x)."""


NO_SPACE_MESSAGE = "No space left on device"
"""strerror(ENOSPC), as FFmpeg prints it when a write fails."""


@dataclass
class FFmpegRun:
    """How an FFmpeg run ended."""

    returncode: int
    stderr_lines: list[str]
    stopped: bool = False
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.stopped and not self.timed_out

    @property
    def hit_pixel_limit(self) -> bool:
        """Whether a decoded frame was larger than ``-max_pixels`` allows (a resize bomb)."""
        return any(PIXEL_LIMIT_MESSAGE in line for line in self.stderr_lines)

    @property
    def out_of_space(self) -> bool:
        """Whether FFmpeg could not write because the disk is full (the worker's, not the job's)."""
        return any(NO_SPACE_MESSAGE in line for line in self.stderr_lines)

    @property
    def error_line(self) -> str:
        """Return FFmpeg's own most specific error line, without its ``[ctx @ 0x..]`` prefix."""
        for line in self.stderr_lines:
            text = _CONTEXT_PREFIX.sub("", line).strip()
            if text and not text.startswith(ENCODER_CHATTER):
                return text
        if self.returncode < 0:
            return f"FFmpeg was killed by signal {-self.returncode}."
        return f"FFmpeg exited with code {self.returncode} and printed no error."


ENCODER_CHATTER = ("Svt[info]", "Svt[warn]", "x265 [info]", "x265 [warning]")
"""Lines encoder libraries print whatever FFmpeg's -loglevel: never the reason it failed."""


def ran_over(timeout_s: float) -> str:
    """The error line of an FFmpeg killed at its time limit."""
    return f"FFmpeg ran over its {timeout_s:.0f}s limit."


def kill_group(process: subprocess.Popen[str]) -> None:
    """Kill FFmpeg's whole process group and reap it."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        log.error("FFmpeg pid %s did not exit after SIGKILL", process.pid)


def drain_lines(stream: object, sink: collections.deque[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        sink.append(line.rstrip("\n"))


def _read_progress(stream: object, events: queue.Queue[Progress | None]) -> None:
    parser = ProgressParser()
    for line in stream:  # type: ignore[attr-defined]
        progress = parser.feed(line)
        if progress is not None:
            events.put(dataclasses.replace(progress, read_at=time.time()))
    events.put(None)


def start_ffmpeg(args: Sequence[str], nice: int, stdin: Any = subprocess.DEVNULL,
                 stdout: Any = subprocess.PIPE) -> subprocess.Popen[str]:
    """Start FFmpeg in its own session, niced, tied to this process; stderr piped as text."""
    return start_media_tool(args, nice, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
                            text=True, errors="replace", bufsize=1)


def run_ffmpeg(
    args: Sequence[str],
    *,
    on_progress: ProgressCallback | None = None,
    on_tick: TickCallback | None = None,
    nice: int = 0,
    timeout_s: float | None = None,
) -> FFmpegRun:
    """Run an FFmpeg command that writes ``-progress pipe:1``; return how it ended.

    Must be called from the thread that should own FFmpeg (PR_SET_PDEATHSIG follows the
    creating thread). FFmpeg is killed with its process group if this function is left
    early for any reason: an exception, a soft time limit, ``on_tick`` returning False.
    """
    stderr_lines: collections.deque[str] = collections.deque(maxlen=STDERR_LINES_KEPT)
    events: queue.Queue[Progress | None] = queue.Queue()
    log.debug("running %s", " ".join(args))
    process = start_ffmpeg(args, nice)
    readers = [
        threading.Thread(target=drain_lines, args=(process.stderr, stderr_lines), daemon=True),
        threading.Thread(target=_read_progress, args=(process.stdout, events), daemon=True),
    ]
    for reader in readers:
        reader.start()
    stopped = timed_out = False
    started = time.monotonic()
    try:
        while True:
            try:
                item = events.get(timeout=TICK_S)
            except queue.Empty:
                item = "tick"
            if item is None:
                break
            if isinstance(item, Progress) and on_progress is not None:
                on_progress(item)
            if on_tick is not None and not on_tick():
                stopped = True
                break
            if timeout_s is not None and time.monotonic() - started > timeout_s:
                stderr_lines.appendleft(ran_over(timeout_s))
                timed_out = True
                break
        if not (stopped or timed_out):
            process.wait()
    finally:
        kill_group(process)
        for reader in readers:
            reader.join(timeout=5)
    return FFmpegRun(process.returncode, list(stderr_lines), stopped=stopped, timed_out=timed_out)


class BackgroundFFmpeg:
    """An FFmpeg started now and waited for later, so other work runs beside it (the poster
    while the plan step sends the encodes, or while finalize packages). Use it as a context
    manager: leaving the block kills its process group whatever happened; ``wait`` returns
    how it ended."""

    def __init__(self, args: Sequence[str], nice: int = 0) -> None:
        self._args, self._nice = list(args), nice
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES_KEPT)
        self._process: subprocess.Popen[str] | None = None
        self._readers: list[threading.Thread] = []

    def __enter__(self) -> BackgroundFFmpeg:
        log.debug("running in the background %s", " ".join(self._args))
        self._process = process = start_ffmpeg(self._args, self._nice)
        self._readers = [  # stdout: the progress pipe nobody reads, drained and dropped
            threading.Thread(target=drain_lines, args=(process.stderr, self._stderr), daemon=True),
            threading.Thread(target=drain_lines, args=(process.stdout, collections.deque(maxlen=1)),
                             daemon=True)]
        for reader in self._readers:
            reader.start()
        return self

    def wait(self, timeout_s: float) -> FFmpegRun:
        """Wait for FFmpeg to exit (killed after ``timeout_s``); return how it ended."""
        assert self._process is not None, "start it with `with` first"
        timed_out = False
        try:
            self._process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self._stderr.appendleft(ran_over(timeout_s))
            timed_out = True
        self._stop()
        return FFmpegRun(self._process.returncode, list(self._stderr), timed_out=timed_out)

    def __exit__(self, *_exc: object) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._process is not None:
            kill_group(self._process)
        for reader in self._readers:
            reader.join(timeout=5)
