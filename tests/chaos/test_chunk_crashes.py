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
from tests.support.files import job_dir
from tests.support.jobs import submit, wait_for_job
from tests.support.media import ffprobe, make_clip, stream
from tests.support.ports import wait_for
from tests.support.workers import WorkerProcess
from workers.steps.layout import AUDIO_DIR

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


def _audio_ffmpeg(worker: WorkerProcess) -> list[int]:
    """The worker's FFmpeg that encodes a chunked job's audio (its outputs name it)."""
    return [pid for pid in ffmpeg_pids(worker)
            if f"/{AUDIO_DIR}/".encode() in Path(f"/proc/{pid}/cmdline").read_bytes()]


def test_a_pool_process_killed_mid_audio_encodes_it_again_and_the_job_finishes(
    chaos_settings: Settings, worker_factory: Factory, media_dir: Path
) -> None:
    # 60 s of sound (about 3 s of AAC here) under a tiny picture: the audio outlasts a poll.
    # One encode slot: the first slice encodes all of it, before its video.
    clip = make_clip(media_dir / "long-sound-160x120.mp4", seconds=60, size="160x120", rate=10,
                     codec="mpeg4")  # not H.264: no stream copy, so it is sliced
    worker = worker_factory(chaos_settings)
    job = submit(chaos_settings, clip, chunk_seconds=20)
    [ffmpeg] = wait_for(lambda: _audio_ffmpeg(worker), timeout=60, interval=0.02,
                        message="the audio FFmpeg running")

    os.kill(parent_of(ffmpeg), signal.SIGKILL)
    wait_gone([ffmpeg], timeout=5)

    final = wait_for_job(chaos_settings, job.id, timeout=180)
    assert (final.audio_track, final.audio_cuts) == ("in-slices", [])
    [rendition] = final.renditions
    assert rendition.chunks >= 2  # the slice that held the audio ran again, alone
    assert rendition.chunk_attempts == [2] + [1] * (rendition.chunks - 1)
    info = ffprobe(job_dir(chaos_settings, job.id) / str(rendition.output))
    audio = stream(info, "audio")
    assert audio is not None and abs(float(audio["duration"]) - 60.0) <= 0.1
    assert worker.alive()


def test_cancel_stops_every_chunk_on_every_worker(
    chaos_settings: Settings, worker_factory: Factory, long_clip: Path,
    user_api: UserApi,
) -> None:
    workers = [worker_factory(chaos_settings, name=name) for name in ("one", "two")]
    store = JobStore(settings_client(chaos_settings))
    user_api.start()
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
