"""Join a chunked rendition: stream-copy its chunks, encode its audio once, verify, publish."""

from __future__ import annotations

import logging
import os

from celery import Celery

from common.jobs import Job, Rendition
from common.store import StaleUpdate
from workers.chunks import CHUNK_DIR, remove_chunks, write_chunk_list
from workers.context import WorkerContext
from workers.encode import EncodeResult, temp_path, verify_output
from workers.ffmpeg.commands import build_stitch_command
from workers.ffmpeg.process import run_ffmpeg
from workers.hls import PackagingFailed
from workers.lease import Lease, held
from workers.pipeline import finalize_when_complete
from workers.rendition import Outcome, fail_renditions, finish_rendition, package_hls, plan_of

log = logging.getLogger(__name__)


def run_stitch(app: Celery, ctx: WorkerContext, job_id: str, profile: str,
               task_id: str | None) -> Outcome:
    """Stitch one rendition once all its chunks are encoded; at most one copy at a time."""
    job = ctx.store.get(job_id)
    if job is None or job.terminal or profile not in {r.profile for r in job.renditions}:
        return Outcome.SKIPPED
    rendition = job.rendition(profile)
    if rendition.terminal or not all(p >= 100.0 for p in rendition.chunk_percent):
        return Outcome.SKIPPED

    def still_open() -> bool:
        job = ctx.store.get(job_id)
        return job is not None and not job.terminal and not job.rendition(profile).terminal

    with held(ctx.redis, job_id, f"~{profile}", ctx.hostname, task_id, ctx.settings.lease_s,
              still_open=still_open) as lease:
        if lease is None:
            return Outcome.BUSY
        try:
            return _stitch(app, ctx, job, rendition, lease)
        except StaleUpdate:
            return Outcome.STOPPED
        finally:
            finalize_when_complete(app, ctx, job_id)


def _stitch(app: Celery, ctx: WorkerContext, job: Job, rendition: Rendition,
            lease: Lease) -> Outcome:
    settings, source = ctx.settings, job.source
    assert source is not None
    plan = plan_of(rendition)
    chunk_dir = settings.job_output_dir(job.id) / CHUNK_DIR / rendition.profile
    output = settings.job_output_dir(job.id) / str(rendition.output)
    partial = temp_path(output)
    listing = write_chunk_list(chunk_dir, rendition.chunks)
    try:
        run = run_ffmpeg(
            build_stitch_command(listing, settings.uploads_dir / job.source_file, source, plan,
                                 partial, settings.ffmpeg_bin),
            on_tick=lease.renew, nice=settings.ffmpeg_nice,
        )
        if not run.ok:
            error = f"Joining the chunks failed: {run.error_line}"
            ctx.notify_job(app, fail_renditions(ctx, job.id, [rendition.profile], error))
            return Outcome.FAILED
        try:
            width, height, duration = verify_output(partial, plan, source, "libx264",
                                                    settings.ffprobe_bin)
        except ValueError as exc:
            error = f"The joined rendition failed verification: {exc}."
            ctx.notify_job(app, fail_renditions(ctx, job.id, [rendition.profile], error))
            return Outcome.FAILED
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    result = EncodeResult(str(rendition.codec), output, width, height, duration,
                          output.stat().st_size, list(rendition.fallbacks))
    try:
        [playlist] = package_hls(ctx, job, [rendition.profile], [result])
    except PackagingFailed as exc:
        ctx.notify_job(app, fail_renditions(ctx, job.id, [rendition.profile], str(exc)))
        return Outcome.FAILED
    ctx.notify_job(app, finish_rendition(ctx, job.id, result, rendition.profile, playlist))
    remove_chunks(settings, job.id, rendition.profile)
    log.info("stitched %s/%s from %d chunks", job.id, rendition.profile, rendition.chunks)
    return Outcome.DONE
