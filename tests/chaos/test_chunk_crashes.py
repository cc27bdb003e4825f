"""Split-and-stitch under real signals: a lost chunk runs again alone; cancel stops them all."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from common.settings import Settings
from common.store import JobStore
from tests.chaos.conftest import (
    Factory,
    UserApi,
    ffmpeg_pids,
    parent_of,
    settings_client,
    wait_gone,
)
from tests.support.jobs import submit, wait_for_job
from tests.support.ports import wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.slow]


def _chunk_running(store: JobStore, job_id: str, index: int, above: float) -> bool:
    job = store.get(job_id)
    return bool(job and job.renditions and job.renditions[0].chunks
                and job.renditions[0].chunk_percent[index] > above)


def test_killed_chunk_runs_again_alone(
    chaos_settings: Settings, worker_factory: Factory, long_clip: Path
) -> None:
    worker = worker_factory(chaos_settings)
    store = JobStore(settings_client(chaos_settings))
    job = submit(chaos_settings, long_clip, chunk_seconds=8)
    wait_for(lambda: _chunk_running(store, job.id, 0, 10.0), timeout=60,
             message="chunk 1 past 10%")
    [ffmpeg] = wait_for(lambda: ffmpeg_pids(worker), timeout=10, message="ffmpeg running")

    os.kill(parent_of(ffmpeg), signal.SIGKILL)
    wait_gone([ffmpeg], timeout=5)

    final = wait_for_job(chaos_settings, job.id, timeout=180)
    [rendition] = final.renditions
    assert rendition.chunks == len(final.chunk_cuts) >= 2  # 10 s GOPs: two keyframe slices
    assert rendition.chunk_attempts == [2] + [1] * (rendition.chunks - 1)  # only the lost one
    assert rendition.state == "done"


def test_cancel_stops_every_chunk_on_every_worker(
    chaos_settings: Settings, worker_factory: Factory, long_clip: Path,
    user_api: UserApi,
) -> None:
    workers = [worker_factory(chaos_settings, name=name) for name in ("one", "two")]
    store = JobStore(settings_client(chaos_settings))
    job = submit(chaos_settings, long_clip, chunk_seconds=4)
    running = wait_for(lambda: len(pids := [p for w in workers for p in ffmpeg_pids(w)]) == 2
                       and pids, timeout=60, message="a chunk on each worker")

    answered = user_api.cancel(job.id)  # DELETE /api/jobs/<id>
    assert answered.state == "canceled"
    assert wait_gone(running, timeout=5) < 2.0

    canceled = wait_for_job(chaos_settings, job.id, states=("canceled",))
    attempts = canceled.renditions[0].chunk_attempts
    assert sum(attempts) <= 3 and attempts[-1] == 0  # queued chunks never started
    # The queued chunk tasks are consumed and skipped.
    wait_for(lambda: store.redis.llen("cpu") == 0, timeout=30, message="cpu queue drained")
    wait_for(lambda: not any(ffmpeg_pids(w) for w in workers), timeout=2,
             message="no FFmpeg left on either worker")
    # No slice starts once the job is canceled: an attempt is counted in the record before
    # FFmpeg starts, and the store refuses that write on a canceled job.
    final = store.get(job.id).renditions[0].chunk_attempts
    assert final == attempts and final[-1] == 0
