"""A broker visibility timeout shorter than the encode never starts a second copy of it.

Celery on Redis re-delivers an unacknowledged task once it is older than the visibility
timeout. With ``acks_late`` a long encode stays unacknowledged for its whole run, so every
sweep puts it back on the queue. The rendition's lease (``workers/lease.py``) is what must
keep the copies from encoding: they find the lease held and retry later.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from common import tasknames
from common.jobs import Job
from common.settings import Settings
from tests.chaos.conftest import ffmpeg_pids, settings_client, wait_encoding
from tests.conftest import cluster_settings
from tests.support.jobs import producer, submit, wait_for_job
from tests.support.ports import wait_for
from tests.support.redis_server import RedisServer
from tests.support.workers import WorkerProcess, start_worker

pytestmark = [pytest.mark.chaos, pytest.mark.slow]

VISIBILITY_S = 2
UNACKED_INDEX = "unacked_index"
"""kombu's sorted set of delivered, unacknowledged messages (score: delivery time)."""
UNACKED = "unacked"
"""kombu's hash of delivered, unacknowledged messages."""


class Sweeper(threading.Thread):
    """Run kombu's ``restore_visible`` sweep every ``every_s`` seconds, as a worker does.

    A worker sweeps at start-up and then every ``unacked_restore_interval`` x
    ``unacked_restore_throttle`` seconds (about 100 s by default); sweeping every second
    here makes the re-deliveries happen within the test instead of after it.
    """

    def __init__(self, settings: Settings, every_s: float = 1.0) -> None:
        super().__init__(name="visibility-sweeper", daemon=True)
        self.settings, self.every_s = settings, every_s
        self.restored = 0
        self.sweeps = 0
        self.visibility_timeout: float | None = None
        """What the broker transport was configured with (checked by the tests, not here:
        an assert in a thread is only a warning)."""
        self.stopping = threading.Event()

    def run(self) -> None:
        client = settings_client(self.settings)
        with producer(self.settings).connection_for_write() as connection:
            qos = connection.default_channel.qos
            self.visibility_timeout = qos.visibility_timeout
            while not self.stopping.wait(self.every_s):
                self.restored += client.zcount(UNACKED_INDEX, "-inf",
                                               time.time() - VISIBILITY_S - 0.2)
                qos.restore_visible(num=1000, interval=1)
                self.sweeps += 1

    def stop(self) -> None:
        self.stopping.set()
        if self.is_alive():
            self.join(timeout=10)


def encoding_pids(worker: WorkerProcess) -> list[int]:
    """The worker's FFmpegs that read an upload to encode it (the plan step's poster reads
    one keyframe of it to a JPEG; the finalize step reads the finished renditions)."""
    def reads_upload(pid: int) -> bool:
        try:
            argv = (Path("/proc") / str(pid) / "cmdline").read_text()
        except OSError:  # it ended between the listing and the read
            return False
        return "/uploads/" in argv and "mjpeg" not in argv

    return [pid for pid in ffmpeg_pids(worker) if reads_upload(pid)]


class Sampler(threading.Thread):
    """Every 50 ms, count the encoding FFmpegs under every worker and the task's copies in
    the broker (waiting on the queue or delivered and unacknowledged)."""

    def __init__(self, workers: list[WorkerProcess], settings: Settings) -> None:
        super().__init__(name="sampler", daemon=True)
        self.workers = workers
        self.client = settings_client(settings)
        self.most = 0
        self.most_copies = 0
        self.samples = 0
        self.seen: set[int] = set()
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.05):
            pids = [pid for worker in self.workers for pid in encoding_pids(worker)]
            self.seen.update(pids)
            self.most = max(self.most, len(pids))
            copies = self.client.hlen(UNACKED) + self.client.llen(tasknames.QUEUE_CPU)
            self.most_copies = max(self.most_copies, copies)
            self.samples += 1

    def stop(self) -> None:
        self.stopping.set()
        if self.is_alive():
            self.join(timeout=5)


def received(log: str, task: str) -> int:
    return sum(1 for line in log.splitlines() if f"{task}[" in line and "received" in line)


def busy_copies(log: str, task: str) -> int:
    """Copies that found the work leased and ended at once (Celery logs the return value)."""
    return sum(1 for line in log.splitlines()
               if f"{task}[" in line and "succeeded" in line and line.rstrip().endswith("'busy'"))


@dataclass
class Run:
    job: Job
    encode_s: float
    sampler: Sampler
    sweeps: int
    restored: int
    first: WorkerProcess
    second: WorkerProcess
    visibility_timeout: float | None = None

    def busy(self) -> int:
        return sum(busy_copies(w.log(), tasknames.ENCODE_RENDITIONS)
                   for w in (self.first, self.second))

    def deliveries(self, worker: WorkerProcess | None = None) -> int:
        workers = [worker] if worker else [self.first, self.second]
        return sum(received(w.log(), tasknames.ENCODE_RENDITIONS) for w in workers)


@pytest.fixture(scope="module")
def run(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory, slow_ladder: Path,
        long_clip: Path) -> Iterator[Run]:
    """One slow encode (about 15 s) on two workers with a 2 s visibility timeout."""
    redis_server.client().flushall()
    root = tmp_path_factory.mktemp("visibility")
    settings = cluster_settings(redis_server.url, root / "data", slow_ladder, concurrency=1,
                                x264_threads=1, visibility_timeout_s=VISIBILITY_S)
    first = start_worker(settings, root / "logs", "first")
    second: WorkerProcess | None = None
    sampler = Sampler([first], settings)
    sweeper = Sweeper(settings)
    try:
        job = submit(settings, long_clip)
        wait_encoding(settings, job.id, above=1.0)
        started = time.monotonic()
        sampler.start()
        wait_for(lambda: settings_client(settings).zcount(
            UNACKED_INDEX, "-inf", time.time() - VISIBILITY_S - 0.2), timeout=10,
            message="the running encode to outlive the visibility timeout")
        # The second worker's own start-up sweep already re-delivers the running encode.
        second = start_worker(settings, root / "logs", "second")
        sampler.workers = [first, second]
        sweeper.start()
        final = wait_for_job(settings, job.id, timeout=120)
        encode_s = time.monotonic() - started
        sampler.stop()
        sweeper.stop()
        yield Run(final, encode_s, sampler, sweeper.sweeps, sweeper.restored, first, second,
                  sweeper.visibility_timeout)
    finally:
        sampler.stop()
        sweeper.stop()
        for worker in (second, first):
            if worker is not None:
                worker.stop()


def test_an_encode_longer_than_the_visibility_timeout_runs_exactly_once(run: Run) -> None:
    assert run.visibility_timeout == VISIBILITY_S
    rendition = run.job.renditions[0]
    assert run.job.state == "done" and rendition.state == "done"
    assert rendition.attempts == 1, rendition
    assert run.encode_s > 3 * VISIBILITY_S, run.encode_s
    assert run.sampler.samples > 50 and run.sampler.seen, "FFmpeg was never sampled"
    assert run.sampler.most == 1, f"{run.sampler.most} encodes ran at once"
    assert run.deliveries() >= 2, f"no re-delivery ({run.restored} restored)"
    assert run.deliveries(run.second) >= 1, "the second worker never got a copy"
    # Every re-delivered copy ended at once as ``busy`` (the README's promise), none retried.
    assert run.busy() == run.deliveries() - 1, (run.busy(), run.deliveries())
    assert run.first.alive() and run.second.alive()


def test_copies_of_a_running_encode_do_not_multiply(run: Run) -> None:
    """Copies stay bounded however many sweeps run: the running one (unacked), at most one
    re-delivered copy being refused as ``busy`` (unacked too) and one restored to the queue
    by the sweep in the same 50 ms sample; never one more per sweep."""
    assert run.sampler.most_copies <= 3, (
        f"{run.sampler.most_copies} copies at once; {run.deliveries()} deliveries in "
        f"{run.sweeps} sweeps over {run.encode_s:.0f}s")
