"""Encode one rendition of a job under a lease, recording every step in the job record."""

from __future__ import annotations

import logging
import time
from enum import StrEnum

from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded

from common import keys, metrics
from common.events import progress_event
from common.jobs import Fallback, Job, JobMode, Rendition, RenditionState
from common.ladder import Profile, RenditionPlan
from common.registry import task_ref
from common.store import StaleUpdate
from workers.context import WorkerContext
from workers.encode import EncodeFailed, EncodeResult, EncodeStopped, codec_chain, encode_rendition
from workers.ffmpeg.commands import EncodeOptions
from workers.lease import Lease, acquire
from workers.pipeline import finalize_when_complete
from workers.reporter import ProgressReporter

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    DONE = "done"
    FAILED = "failed"
    STOPPED = "stopped"
    SKIPPED = "skipped"
    BUSY = "busy"
    """Another live worker holds the lease: try again later."""


def _start(ctx: WorkerContext, job_id: str, profile: str) -> Job:
    """Count the attempt and mark the rendition encoding (or failed when out of attempts)."""
    max_attempts = ctx.settings.max_attempts

    def apply(job: Job, rendition: Rendition) -> None:
        if rendition.attempts >= max_attempts:
            rendition.state = RenditionState.FAILED
            rendition.error = (f"Gave up after {rendition.attempts} attempts: each one ended "
                               "without finishing (the worker process died or was killed).")
            rendition.finished_at = time.time()
            return
        rendition.attempts += 1
        rendition.state = RenditionState.ENCODING
        rendition.worker = ctx.hostname
        rendition.started_at = time.time()
        rendition.percent, rendition.error, rendition.eta_s = 0.0, None, None

    return ctx.store.update_rendition(job_id, profile, apply)


def _plan(rendition: Rendition) -> RenditionPlan:
    profile = Profile(**(rendition.target or {}))
    return RenditionPlan(profile, rendition.width or 0, rendition.height or 0,
                         rendition.passthrough)


def _record_attempt(app: Celery, ctx: WorkerContext, job_id: str, profile: str):
    def on_attempt(codec: str, fallbacks: list[Fallback]) -> None:
        def apply(job: Job, rendition: Rendition) -> None:
            rendition.codec, rendition.fallbacks, rendition.percent = codec, fallbacks, 0.0

        ctx.notify_job(app, ctx.store.update_rendition(job_id, profile, apply))

    return on_attempt


def _finish(ctx: WorkerContext, job_id: str, profile: str, result: EncodeResult) -> Job:
    def apply(job: Job, rendition: Rendition) -> None:
        rendition.state = RenditionState.DONE
        rendition.percent, rendition.eta_s = 100.0, 0.0
        rendition.codec, rendition.fallbacks = result.codec, result.fallbacks
        rendition.passthrough = result.passthrough
        rendition.width, rendition.height = result.width, result.height
        rendition.output, rendition.size_bytes = result.output.name, result.size_bytes
        rendition.finished_at = time.time()

    return ctx.store.update_rendition(job_id, profile, apply)


def _fail(ctx: WorkerContext, job_id: str, profile: str, error: str,
          fallbacks: list[Fallback] | None = None) -> Job:
    def apply(job: Job, rendition: Rendition) -> None:
        rendition.state = RenditionState.FAILED
        rendition.error, rendition.eta_s = error, None
        if fallbacks is not None:
            rendition.fallbacks = fallbacks
        rendition.finished_at = time.time()

    return ctx.store.update_rendition(job_id, profile, apply)


def _count(ctx: WorkerContext, result: EncodeResult, started: float) -> None:
    metrics.add(ctx.redis, metrics.RENDITIONS_ENCODED, result.codec)
    metrics.add(ctx.redis, metrics.ENCODE_SECONDS, result.codec, time.monotonic() - started)
    for fallback in result.fallbacks:
        metrics.add(ctx.redis, metrics.FALLBACKS, fallback.codec)


def run_rendition(app: Celery, ctx: WorkerContext, job_id: str, profile: str,
                  task_id: str | None) -> Outcome:
    """Encode ``profile`` of ``job_id`` once, at most one copy cluster-wide at any time."""
    job = ctx.store.get(job_id)
    if job is None or job.terminal or profile not in {r.profile for r in job.renditions}:
        return Outcome.SKIPPED
    if job.rendition(profile).terminal:
        return Outcome.SKIPPED
    lease = acquire(ctx.redis, job_id, profile, ctx.hostname, task_id, ctx.settings.lease_s)
    if lease is None:
        return Outcome.BUSY
    ref = task_ref(job_id, profile)
    ctx.redis.sadd(keys.ACTIVE_RENDITIONS, ref)
    ctx.redis.sadd(keys.worker_tasks(ctx.hostname), ref)
    try:
        return _encode_under_lease(app, ctx, job_id, profile, lease)
    except StaleUpdate:
        return Outcome.STOPPED
    finally:
        lease.release()
        ctx.redis.srem(keys.worker_tasks(ctx.hostname), ref)
        ctx.redis.srem(keys.ACTIVE_RENDITIONS, ref)
        finalize_when_complete(app, ctx, job_id)


def _encode_under_lease(app: Celery, ctx: WorkerContext, job_id: str, profile: str,
                        lease: Lease) -> Outcome:
    job = _start(ctx, job_id, profile)
    ctx.notify_job(app, job)
    rendition = job.rendition(profile)
    if rendition.state == RenditionState.FAILED or job.source is None:
        return Outcome.FAILED
    settings = ctx.settings
    plan = _plan(rendition)
    codecs = codec_chain(plan, ctx.hardware_encoders, copy_only=job.mode == JobMode.PASSTHROUGH)
    reporter = ProgressReporter(ctx.store, ctx.emitter, job_id, profile, job.source.duration,
                                lease, hz=settings.progress_hz, renew_every_s=settings.heartbeat_s)
    started = time.monotonic()
    try:
        result = encode_rendition(
            settings.uploads_dir / job.source_file, job.source, plan,
            settings.job_output_dir(job_id) / str(rendition.output), codecs,
            options=EncodeOptions(settings.ffmpeg_bin, settings.x264_threads),
            ffprobe_bin=settings.ffprobe_bin, nice=settings.ffmpeg_nice,
            on_progress=reporter.on_progress, on_tick=reporter.on_tick,
            on_attempt=_record_attempt(app, ctx, job_id, profile),
        )
    except EncodeStopped:
        log.info("%s/%s stopped (canceled or taken over)", job_id, profile)
        return Outcome.STOPPED
    except EncodeFailed as exc:
        ctx.notify_job(app, _fail(ctx, job_id, profile, str(exc), exc.fallbacks))
        return Outcome.FAILED
    except SoftTimeLimitExceeded:
        error = f"The encode ran over the {settings.task_time_limit_s}s time limit."
        ctx.notify_job(app, _fail(ctx, job_id, profile, error))
        return Outcome.FAILED
    _count(ctx, result, started)
    job = _finish(ctx, job_id, profile, result)
    final = job.rendition(profile)
    ctx.emitter.emit(progress_event(job_id, profile, {
        "percent": 100.0, "fps": final.fps, "bitrate_kbps": final.bitrate_kbps,
        "speed": final.speed, "eta_s": 0.0}))
    ctx.notify_job(app, job)
    return Outcome.DONE
