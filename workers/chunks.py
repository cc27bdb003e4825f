"""Split-and-stitch: every worker encodes a time slice of a long source, then one joins them."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from celery import Celery

from common.jobs import Job, Rendition, RenditionState
from common.settings import Settings
from common.store import StaleUpdate
from common.tasknames import STITCH_RENDITION
from workers.chunk_plan import chunk_window
from workers.context import WorkerContext
from workers.encode import (
    EncodeFailed,
    EncodeResult,
    EncodeStopped,
    EncodeTarget,
    codec_chain,
    encode_group,
)
from workers.ffmpeg.commands import EncodeOptions
from workers.ffmpeg.progress import Progress
from workers.lease import Lease, held
from workers.pipeline import finalize_when_complete
from workers.rendition import Outcome, fail_renditions, plan_of, start_attempt, update_each
from workers.reporter import ProgressReporter

log = logging.getLogger(__name__)

CHUNK_DIR = ".chunks"
"""Per-job folder of encoded chunks; hidden (dot) so downloads never serve it."""


def chunk_file(settings: Settings, job_id: str, profile: str, index: int) -> Path:
    return settings.job_output_dir(job_id) / CHUNK_DIR / profile / f"{index:05d}.mp4"


def _open_for_chunk(job: Job, index: int) -> list[Rendition]:
    return [r for r in job.renditions
            if r.chunks and not r.terminal and r.chunk_percent[index] < 100.0]


def run_chunk(app: Celery, ctx: WorkerContext, job_id: str, index: int,
              task_id: str | None) -> Outcome:
    """Encode slice ``index`` of every chunked rendition of the job, with one decode."""
    job = ctx.store.get(job_id)
    if job is None or job.terminal or not _open_for_chunk(job, index):
        return Outcome.SKIPPED

    def still_open() -> bool:
        job = ctx.store.get(job_id)
        return job is not None and not job.terminal and bool(_open_for_chunk(job, index))

    with held(ctx.redis, job_id, f"#{index}", ctx.hostname, task_id, ctx.settings.lease_s,
              still_open=still_open) as lease:
        if lease is None:
            return Outcome.BUSY
        try:
            return _encode_chunk(app, ctx, job_id, index, lease)
        except StaleUpdate:
            return Outcome.STOPPED
        finally:
            stitch_when_ready(app, ctx, job_id)
            finalize_when_complete(app, ctx, job_id)


def _encode_chunk(app: Celery, ctx: WorkerContext, job_id: str, index: int,
                  lease: Lease) -> Outcome:
    job = ctx.store.get(job_id)
    assert job is not None and job.source is not None
    profiles = [r.profile for r in _open_for_chunk(job, index)]
    job = update_each(ctx, job_id, profiles, start_attempt(ctx, chunk=index))
    ctx.notify_job(app, job)
    active = [job.rendition(p) for p in profiles
              if job.rendition(p).state == RenditionState.ENCODING]
    if not active:
        return Outcome.FAILED
    settings, profiles = ctx.settings, [r.profile for r in active]
    window = chunk_window(job, index)
    targets = [EncodeTarget(plan_of(r), chunk_file(settings, job_id, r.profile, index))
               for r in active]
    hardware = ctx.hardware_encoders if active[0].queue == "gpu" else []
    reporters = [ProgressReporter(ctx.store, ctx.emitter, job_id, p, window.duration_s, lease,
                                  hz=settings.progress_hz, renew_every_s=settings.heartbeat_s,
                                  chunk=index) for p in profiles]

    def on_progress(progress: Progress, bitrates: list[float | None]) -> None:
        for reporter, bitrate in zip(reporters, bitrates, strict=True):
            reporter.on_progress(progress, bitrate)

    try:
        results = encode_group(
            ctx.settings.uploads_dir / job.source_file, job.source, targets,
            codec_chain(targets[0].plan, hardware),
            options=EncodeOptions(settings.ffmpeg_bin, settings.x264_threads,
                                  settings.segment_seconds),
            ffprobe_bin=settings.ffprobe_bin, nice=settings.ffmpeg_nice,
            on_progress=on_progress, on_tick=lambda: all([r.on_tick() for r in reporters]),
            window=window,
        )
    except EncodeStopped:
        return Outcome.STOPPED
    except EncodeFailed as exc:
        error = f"Chunk {index + 1} of {active[0].chunks} failed: {exc}"
        ctx.notify_job(app, fail_renditions(ctx, job_id, profiles, error, exc.fallbacks))
        return Outcome.FAILED
    _record_chunk(ctx, job_id, index, profiles, results)
    return Outcome.DONE


def _record_chunk(ctx: WorkerContext, job_id: str, index: int, profiles: list[str],
                  results: list[EncodeResult]) -> None:
    by_profile = dict(zip(profiles, results, strict=True))

    def apply(job: Job, rendition: Rendition) -> None:
        result = by_profile[rendition.profile]
        rendition.chunk_percent[index] = 100.0
        rendition.percent = round(sum(rendition.chunk_percent) / rendition.chunks, 1)
        rendition.codec = result.codec
        known = {(f.codec, f.error) for f in rendition.fallbacks}
        rendition.fallbacks += [f for f in result.fallbacks if (f.codec, f.error) not in known]

    update_each(ctx, job_id, profiles, apply)


def stitch_when_ready(app: Celery, ctx: WorkerContext, job_id: str) -> None:
    """Enqueue the stitch of every rendition whose chunks are all encoded."""
    job = ctx.store.get(job_id)
    if job is None or job.terminal:
        return
    for rendition in job.renditions:
        if rendition.chunks and rendition.state == RenditionState.ENCODING \
                and all(p >= 100.0 for p in rendition.chunk_percent):
            app.send_task(STITCH_RENDITION, args=[job_id, rendition.profile],
                          queue=rendition.queue or "cpu")


def write_chunk_list(directory: Path, count: int) -> Path:
    """Write the ffconcat list of a rendition's chunks (relative names: ``safe`` stays on)."""
    listing = directory / "chunks.ffconcat"
    lines = ["ffconcat version 1.0", *(f"file {i:05d}.mp4" for i in range(count))]
    listing.write_text("\n".join(lines) + "\n")
    return listing


def remove_chunks(settings: Settings, job_id: str, profile: str) -> None:
    shutil.rmtree(settings.job_output_dir(job_id) / CHUNK_DIR / profile, ignore_errors=True)
