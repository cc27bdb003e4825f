"""The poster: made from one keyframe of the source while the job's encodes are sent, so the
dashboard shows it during the encode; made from a finished rendition at finalize when the
source has no keyframe from a third of the way in (at most 5 s) on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from common.settings import Settings
from common.states import JobState, RenditionState
from common.store import JobStore
from common.tasknames import ENCODE_RENDITIONS, QUEUE_CPU
from tests.support.files import job_dir
from tests.support.jobs import submit, wait_for_job
from tests.support.media import ffprobe, logging_tool, make_clip
from tests.support.workers import RecordingProducer
from workers.runtime.context import WorkerContext
from workers.steps.plan import start_job


def test_the_plan_step_makes_the_poster_from_a_source_keyframe_before_any_encode(
    gpu_settings: Settings, media_dir: Path
) -> None:
    clip = make_clip(media_dir / "poster-gop1s.mp4", seconds=6, size="640x360",
                     extra=["-g", "25"])
    job = submit(gpu_settings, clip)
    client = redis.Redis.from_url(gpu_settings.effective_redis_url)
    client.delete(QUEUE_CPU)  # its probe task: run here instead
    sends = RecordingProducer()  # no worker runs the encodes
    start_job(WorkerContext(gpu_settings, producer=sends, hostname="planner@test"), job.id)
    planned = JobStore(client).get(job.id)
    assert planned is not None and planned.state == JobState.ENCODING
    assert ENCODE_RENDITIONS in sends.names
    assert {r.state for r in planned.renditions} == {RenditionState.QUEUED}
    assert planned.poster == "poster.jpg"
    [picture] = ffprobe(job_dir(gpu_settings, job.id) / "poster.jpg")["streams"]
    assert (picture["codec_name"], picture["width"], picture["height"]) == ("mjpeg", 480, 270)


def test_the_plan_step_runs_no_poster_ffmpeg_for_a_source_its_probe_saw_end_in_one_gop(
    gpu_settings: Settings, media_dir: Path, tmp_path: Path
) -> None:
    """The probe read every packet of the small upload and its only keyframe is at 0: no
    keyframe at the poster's time, so no FFmpeg is started to look for one."""
    clip = make_clip(media_dir / "poster-plan-one-gop.mp4", seconds=2)
    fake_ffmpeg, calls = logging_tool(tmp_path, "ffmpeg")
    settings = gpu_settings.with_overrides(ffmpeg_bin=str(fake_ffmpeg))
    job = submit(settings, clip)
    client = redis.Redis.from_url(settings.effective_redis_url)
    client.delete(QUEUE_CPU)
    start_job(WorkerContext(settings, producer=RecordingProducer(), hostname="planner@test"),
              job.id)
    planned = JobStore(client).get(job.id)
    assert planned is not None and planned.state == JobState.ENCODING
    assert planned.source is not None and planned.source.last_keyframe_s == 0.0
    assert planned.poster is None
    assert not calls.exists(), calls.read_text()


def test_a_source_without_a_later_keyframe_gets_its_poster_from_a_rendition(
    gpu_settings: Settings, worker_factory: Callable[..., Any], media_dir: Path
) -> None:
    clip = make_clip(media_dir / "poster-one-gop.mp4", seconds=2)  # one keyframe, at 0
    worker_factory(gpu_settings)
    done = wait_for_job(gpu_settings, submit(gpu_settings, clip).id, timeout=60)
    assert done.state == JobState.DONE and done.poster == "poster.jpg"
    poster = job_dir(gpu_settings, done.id) / "poster.jpg"
    assert poster.stat().st_size > 1000
    assert poster.stat().st_mtime >= max(r.finished_at or 0.0 for r in done.renditions)
