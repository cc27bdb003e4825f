"""Two FFmpegs joined by a pipe (samples encoded and measured as they are written), and
which of them a failure of the pair comes from."""

from __future__ import annotations

import collections
import contextlib
import logging
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from workers.ffmpeg.process import (
    STDERR_LINES_KEPT,
    TICK_S,
    FFmpegRun,
    TickCallback,
    drain_lines,
    kill_group,
    ran_over,
    start_ffmpeg,
)

log = logging.getLogger(__name__)

BROKEN_PIPE_MESSAGE = "Broken pipe"
"""strerror(EPIPE), as FFmpeg prints it when the process reading its output is gone."""
PRODUCER_GRACE_S = 1.0
"""How long a producer may take to end by itself after its consumer failed: its own error
(the consumer only read its output ending early) or EPIPE (the consumer's failure came first)."""


@dataclass
class PipedRun:
    """How two FFmpegs joined by a pipe ended: the first writing what the second reads."""

    producer: FFmpegRun
    consumer: FFmpegRun
    failed_first: FFmpegRun | None = None
    """The one whose failure failed the pair, or the producer when the pair ran over its
    time; None when both succeeded or were stopped. A consumer fails too when its producer
    dies and its input ends early: then the producer is named, whichever exited first."""

    @property
    def ok(self) -> bool:
        return self.producer.ok and self.consumer.ok

    @property
    def stopped(self) -> bool:
        return self.producer.stopped or self.consumer.stopped


def run_piped(producer: Sequence[str], consumer: Sequence[str], *,
              on_tick: TickCallback | None = None, nice: int = 0,
              timeout_s: float | None = None) -> PipedRun:
    """Run two FFmpegs at once, the producer's stdout into the consumer's stdin (encodes
    measured while they are written); return how each ended.

    Each runs like ``run_ffmpeg``'s: its own session, niced, dying with this process,
    stderr drained. When the producer fails the consumer is killed at once; when the
    consumer fails the producer has :data:`PRODUCER_GRACE_S` to end by itself first. Both
    are killed if this function is left early.
    """
    lines = [collections.deque[str](maxlen=STDERR_LINES_KEPT) for _ in range(2)]
    ended: list[float | None] = [None, None]
    killed = [False, False]
    log.debug("running %s | %s", " ".join(producer), " ".join(consumer))
    first = start_ffmpeg(producer, nice)
    processes = [first]
    threads: list[threading.Thread] = []
    stopped = timed_out = False
    try:
        assert first.stdout is not None
        processes.append(start_ffmpeg(consumer, nice, stdin=first.stdout,
                                      stdout=subprocess.DEVNULL))
        first.stdout.close()  # the consumer holds the read end; EOF reaches it when we exit
        for index, (process, sink) in enumerate(zip(processes, lines, strict=True)):
            threads += [
                threading.Thread(target=drain_lines, args=(process.stderr, sink), daemon=True),
                threading.Thread(target=_note_exit, args=(process, ended, index), daemon=True)]
        for thread in threads:
            thread.start()
        started = time.monotonic()
        while not _pipeline_over(processes, ended):
            if on_tick is not None and not on_tick():
                stopped = True
                break
            if timeout_s is not None and time.monotonic() - started > timeout_s:
                lines[0].appendleft(ran_over(timeout_s))
                timed_out = True
                break
            time.sleep(TICK_S)
        if not (stopped or timed_out) and ended[1] is not None and ended[0] is None:
            _wait_quietly(processes[0], PRODUCER_GRACE_S)
    finally:
        for index, process in enumerate(processes):
            killed[index] = process.poll() is None
            kill_group(process)
        for thread in threads:
            thread.join(timeout=5)
    runs = [FFmpegRun(p.returncode, list(sink), stopped=stopped, timed_out=timed_out)
            for p, sink in zip(processes, lines, strict=True)]
    if stopped or timed_out:
        return PipedRun(runs[0], runs[1], None if stopped else runs[0])
    return PipedRun(runs[0], runs[1], failure_cause(runs[0], runs[1], killed[0]))


def failure_cause(producer: FFmpegRun, consumer: FFmpegRun,
                  producer_killed: bool) -> FFmpegRun | None:
    """Which run's failure failed the pair (None: neither failed). The producer's own
    failure comes first; not its EPIPE (its reader went first) nor the kill that followed
    its consumer's failure."""
    if producer.returncode == 0 and consumer.returncode == 0:
        return None
    lost_its_reader = any(BROKEN_PIPE_MESSAGE in line for line in producer.stderr_lines)
    if producer.returncode != 0 and not producer_killed and not lost_its_reader:
        return producer
    return consumer if consumer.returncode != 0 else producer


def _wait_quietly(process: subprocess.Popen[str], timeout_s: float) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout_s)


def _note_exit(process: subprocess.Popen[str], ended: list[float | None], index: int) -> None:
    process.wait()
    ended[index] = time.monotonic()


def _pipeline_over(processes: list[subprocess.Popen[str]], ended: list[float | None]) -> bool:
    """Whether both exited, or one failed (its partner is then killed: the run has failed)."""
    codes = [p.returncode if at is not None else None for p, at in zip(processes, ended,
                                                                        strict=True)]
    return all(code == 0 for code in codes) or any(code not in (None, 0) for code in codes)
