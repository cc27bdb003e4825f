"""Real signals against real workers: nothing is lost, nothing is orphaned, nothing loops."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from common import tasknames
from common.pertitle import LadderMode
from common.settings import Settings
from common.store import JobStore
from tests.chaos.conftest import (
    Factory,
    UserApi,
    ffmpeg_pids,
    parent_of,
    settings_client,
    wait_encoding,
    wait_gone,
)
from tests.support.files import job_dir
from tests.support.jobs import producer, submit, wait_for_job
from tests.support.media import make_clip
from tests.support.ports import wait_for
from tests.support.workers import pid_exists

pytestmark = [pytest.mark.chaos, pytest.mark.slow]


def test_cancel_stops_ffmpeg_within_two_seconds_and_leaves_no_partial_file(
    chaos_settings: Settings, worker_factory: Factory, long_clip: Path,
    user_api: UserApi,
) -> None:
    worker = worker_factory(chaos_settings)
    user_api.start()
    job = submit(chaos_settings, long_clip)
    wait_encoding(chaos_settings, job.id)
    running = wait_for(lambda: ffmpeg_pids(worker), timeout=10, message="ffmpeg running")

    user_api.cancel(job.id)  # DELETE /api/jobs/<id>, as a user cancels
    assert wait_gone(running, timeout=5) < 2.0

    final = wait_for_job(chaos_settings, job.id, states=("canceled",))
    assert final.renditions[0].state == "canceled"
    out_dir = job_dir(chaos_settings, job.id)

    def left() -> set[str]:
        return {p.name for p in out_dir.iterdir()} if out_dir.exists() else set()

    # the poster the plan step made from the source (before the encode) is no partial file:
    # it stays when the record names it, and one finished after the cancel is removed
    recorded = {final.poster} if final.poster else set()
    wait_for(lambda: left() == recorded, timeout=5, message="partial files removed")
    assert worker.alive()


def test_killed_pool_process_is_replaced_and_the_rendition_runs_again(
    chaos_settings: Settings, worker_factory: Factory, long_clip: Path
) -> None:
    worker = worker_factory(chaos_settings)
    job = submit(chaos_settings, long_clip)
    wait_encoding(chaos_settings, job.id)
    [ffmpeg] = wait_for(lambda: ffmpeg_pids(worker), timeout=10, message="ffmpeg running")
    pool_process = parent_of(ffmpeg)
    assert pool_process != worker.pid

    os.kill(pool_process, signal.SIGKILL)
    wait_gone([ffmpeg], timeout=5)  # PR_SET_PDEATHSIG: no orphan keeps burning a core

    final = wait_for_job(chaos_settings, job.id, timeout=120)
    rendition = final.renditions[0]
    assert rendition.state == "done" and rendition.attempts == 2
    assert (job_dir(chaos_settings, job.id) / "360p.mp4").stat().st_size > 0
    assert worker.alive()


def test_killed_worker_is_taken_over_within_thirty_seconds(
    chaos_settings: Settings, worker_factory: Factory, long_clip: Path
) -> None:
    # The default lease (15 s), not the suite's short one: the promise is about defaults.
    settings = chaos_settings.with_overrides(lease_s=Settings().lease_s)
    assert settings.lease_s == 15
    first = worker_factory(settings, name="first")
    job = submit(settings, long_clip)
    wait_encoding(settings, job.id)
    second = worker_factory(settings, name="second")
    [ffmpeg] = wait_for(lambda: ffmpeg_pids(first), timeout=10, message="ffmpeg on first")

    os.kill(first.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    wait_gone([ffmpeg], timeout=10)

    store = JobStore(settings_client(chaos_settings))
    wait_for(lambda: (r := store.get(job.id).renditions[0]).worker
             and r.worker.startswith("second@") and r.state == "encoding", timeout=30,
             message="second worker takes over")
    assert time.monotonic() - killed_at < 30
    final = wait_for_job(chaos_settings, job.id, timeout=120)
    assert final.renditions[0].attempts == 2
    assert second.alive()


def test_a_worker_killed_mid_analysis_is_taken_over_and_the_job_finishes(
    chaos_settings: Settings, worker_factory: Factory, long_clip: Path
) -> None:
    first = worker_factory(chaos_settings, name="first")
    store = JobStore(settings_client(chaos_settings))
    job = submit(chaos_settings, long_clip, ladder=LadderMode.PER_TITLE)
    wait_for(lambda: store.get(job.id).state == "analyzing", timeout=30,  # type: ignore[union-attr]
             interval=0.02, message="the job analyzing")
    sampling = wait_for(lambda: len(pids := ffmpeg_pids(first)) == 2 and pids, timeout=10,
                        interval=0.02, message="the sample encoder and its measure on first")

    os.kill(first.pid, signal.SIGKILL)  # at once: the analysis of this clip lasts about 2 s
    killed_at = time.monotonic()
    wait_gone(sampling, timeout=10)
    killed = store.get(job.id)
    assert killed is not None and killed.state == "analyzing" and killed.per_title is None
    second = worker_factory(chaos_settings, name="second")

    final = wait_for_job(chaos_settings, job.id, timeout=120)
    assert time.monotonic() - killed_at < 60  # a lease period, not the broker's 12 hours
    assert final.per_title is not None and final.per_title.note is None
    assert final.per_title.rungs and final.per_title.seconds > 0
    assert all(str(r.worker).startswith("second@") for r in final.renditions)
    assert second.alive()


def test_rendition_that_kills_its_worker_every_time_fails_after_max_attempts(
    chaos_settings: Settings, worker_factory: Factory, long_clip: Path
) -> None:
    settings = chaos_settings.with_overrides(max_attempts=2)
    worker = worker_factory(settings)
    job = submit(settings, long_clip)
    store = JobStore(settings_client(settings))
    for attempt in (1, 2):
        wait_for(lambda a=attempt: store.get(job.id).renditions
                 and store.get(job.id).renditions[0].attempts == a, timeout=60,
                 message=f"attempt {attempt}")
        [ffmpeg] = wait_for(lambda: ffmpeg_pids(worker), timeout=20, message="ffmpeg running")
        os.kill(parent_of(ffmpeg), signal.SIGKILL)
        wait_gone([ffmpeg], timeout=5)

    final = wait_for_job(settings, job.id, states=("failed",), timeout=60)
    assert final.renditions[0].attempts == 2
    assert final.error and "Gave up after 2 attempts" in final.error
    assert worker.alive()


def test_late_duplicate_never_touches_a_finished_rendition(
    chaos_settings: Settings, worker_factory: Factory, clip: Path
) -> None:
    worker_factory(chaos_settings)
    job = wait_for_job(chaos_settings, submit(chaos_settings, clip).id)
    output = job_dir(chaos_settings, job.id) / "240p.mp4"
    if not output.exists():  # the slow ladder only has 360p: the 320x240 clip keeps its size
        output = job_dir(chaos_settings, job.id) / str(job.renditions[0].output)
    before = (output.stat().st_mtime_ns, output.stat().st_size)

    app = producer(chaos_settings)
    app.send_task(tasknames.ENCODE_RENDITION, args=[job.id, job.renditions[0].profile],
                  queue=tasknames.QUEUE_CPU)
    app.send_task(tasknames.PROBE_JOB, args=[job.id], queue=tasknames.QUEUE_CPU)
    store = JobStore(settings_client(chaos_settings))
    # A marker job queued behind the duplicates tells us when the worker got past them.
    marker = submit(chaos_settings, clip)
    wait_for_job(chaos_settings, marker.id)

    after_job = store.get(job.id)
    assert after_job.state == "done" and after_job.renditions[0].attempts == 1
    assert (output.stat().st_mtime_ns, output.stat().st_size) == before


def test_time_limit_kills_ffmpeg_and_fails_the_rendition_with_a_sentence(
    chaos_settings: Settings, worker_factory: Factory, long_clip: Path
) -> None:
    settings = chaos_settings.with_overrides(task_time_limit_s=3)
    worker = worker_factory(settings)
    job = submit(settings, long_clip)
    [ffmpeg] = wait_for(lambda: ffmpeg_pids(worker), timeout=30, message="ffmpeg running")
    final = wait_for_job(settings, job.id, states=("failed",), timeout=30)
    assert not pid_exists(ffmpeg)
    assert "time limit" in (final.renditions[0].error or "")
    assert worker.alive()


def test_retry_after_a_cancel_keeps_the_finished_rendition_untouched(
    chaos_settings: Settings, worker_factory: Factory, media_dir: Path, tmp_path: Path,
    user_api: UserApi,
) -> None:
    """Canceled with one rendition done: a retry re-encodes only the other one."""
    ladder = tmp_path / "two-slow-rungs.json"
    ladder.write_text(json.dumps({"profiles": [
        # Encoded largest first: the quick 360p ends, the slow 144p is still running.
        {"name": "360p", "height": 360, "video_bitrate_kbps": 600, "preset": "ultrafast"},
        {"name": "144p", "height": 144, "video_bitrate_kbps": 150, "preset": "veryslow"},
    ]}))
    settings = chaos_settings.with_overrides(profiles_file=ladder, fuse_renditions=False)
    user_api.settings = settings
    user_api.start()
    worker_factory(settings)
    source = make_clip(media_dir / "retry-640x360.mp4", seconds=10, size="640x360")
    job = submit(settings, source, hls=False)
    store = JobStore(settings_client(settings))

    # One worker, one encode at a time, unfused: one rendition ends while the other waits
    # or encodes. Cancel then, and retry.
    wait_for(lambda: (j := store.get(job.id)) and any(r.state == "done" for r in j.renditions)
             and any(r.state == "encoding" for r in j.renditions), timeout=90,
             message="one rendition done while the other encodes")
    before = store.get(job.id)
    [done] = [r for r in before.renditions if r.state == "done"]
    assert done.profile == "360p"
    output = job_dir(settings, job.id) / str(done.output)
    stat = output.stat()
    user_api.cancel(job.id)  # DELETE /api/jobs/<id>, then POST .../retry: what a user does
    wait_for_job(settings, job.id, states=("canceled",))
    assert user_api.retry(job.id).state == "queued"
    final = wait_for_job(settings, job.id, timeout=120)
    kept = final.rendition(done.profile)
    assert (kept.state, kept.attempts, kept.finished_at) == ("done", done.attempts,
                                                            done.finished_at)
    assert (output.stat().st_ino, output.stat().st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
    [redone] = [r for r in final.renditions if r.profile != done.profile]
    assert redone.state == "done" and redone.attempts == 1
