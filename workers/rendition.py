"""Encode renditions of a job under leases, recording every step in the job record."""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from enum import StrEnum
from functools import partial

from celery import Celery
from celery.exceptions import SoftTimeLimitExceeded

from common import metrics
from common.jobs import Fallback, Job, JobMode, Rendition, RenditionState
from common.ladder import Profile, RenditionPlan
from common.store import RenditionMutation, StaleUpdate
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
from workers.hls import PackagingFailed, package_rendition
from workers.lease import Lease, held
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


def start_attempt(ctx: WorkerContext, chunk: int | None = None) -> RenditionMutation:
    """Return the mutation that counts an attempt (of the rendition, or of one of its chunks)
    and marks the rendition encoding, or failed once out of attempts."""
    max_attempts = ctx.settings.max_attempts

    def apply(job: Job, rendition: Rendition) -> None:
        attempts = rendition.attempts if chunk is None else rendition.chunk_attempts[chunk]
        if attempts >= max_attempts:
            what = "" if chunk is None else f" on chunk {chunk + 1} of {rendition.chunks}"
            rendition.state = RenditionState.FAILED
            rendition.error = (f"Gave up{what} after {attempts} attempts: each one ended "
                               "without finishing (the worker process died or was killed).")
            rendition.finished_at = time.time()
            return
        if chunk is None:
            rendition.attempts += 1
            rendition.percent = 0.0
            rendition.started_at = time.time()
        else:
            rendition.chunk_attempts[chunk] += 1
            rendition.attempts = max(rendition.attempts, rendition.chunk_attempts[chunk])
            rendition.started_at = rendition.started_at or time.time()
        rendition.state = RenditionState.ENCODING
        rendition.worker = ctx.hostname
        rendition.error, rendition.eta_s = None, None

    return apply


def plan_of(rendition: Rendition) -> RenditionPlan:
    profile = Profile(**(rendition.target or {}))
    return RenditionPlan(profile, rendition.width or 0, rendition.height or 0,
                         rendition.passthrough)


def update_each(ctx: WorkerContext, job_id: str, profiles: list[str],
                 apply: RenditionMutation) -> Job:
    job: Job | None = None
    for profile in profiles:
        job = ctx.store.update_rendition(job_id, profile, apply)
    assert job is not None
    return job


def package_hls(ctx: WorkerContext, job: Job, profiles: list[str],
             results: list[EncodeResult]) -> list[str | None]:
    """Cut each finished rendition into HLS segments when the job asks for HLS."""
    if not job.hls:
        return [None] * len(results)
    settings = ctx.settings
    return [package_rendition(result.output, settings.job_output_dir(job.id), profile,
                              settings.segment_seconds, settings.ffmpeg_bin)
            for profile, result in zip(profiles, results, strict=True)]


def finish_rendition(ctx: WorkerContext, job_id: str, result: EncodeResult, profile: str,
            playlist: str | None) -> Job:
    def apply(job: Job, rendition: Rendition) -> None:
        rendition.playlist = playlist
        rendition.state = RenditionState.DONE
        rendition.percent, rendition.eta_s = 100.0, 0.0
        rendition.codec, rendition.fallbacks = result.codec, result.fallbacks
        rendition.passthrough = result.passthrough
        rendition.width, rendition.height = result.width, result.height
        rendition.output, rendition.size_bytes = result.output.name, result.size_bytes
        rendition.finished_at = time.time()

    return ctx.store.update_rendition(job_id, profile, apply)


def fail_renditions(ctx: WorkerContext, job_id: str, profiles: list[str], error: str,
          fallbacks: list[Fallback] | None = None) -> Job:
    def apply(job: Job, rendition: Rendition) -> None:
        rendition.state = RenditionState.FAILED
        rendition.error, rendition.eta_s = error, None
        if fallbacks is not None:
            rendition.fallbacks = fallbacks
        rendition.finished_at = time.time()

    return update_each(ctx, job_id, profiles, apply)


def _count(ctx: WorkerContext, result: EncodeResult, seconds: float) -> None:
    metrics.add(ctx.redis, metrics.RENDITIONS_ENCODED, result.codec)
    metrics.add(ctx.redis, metrics.ENCODE_SECONDS, result.codec, seconds)
    for fallback in result.fallbacks:
        metrics.add(ctx.redis, metrics.FALLBACKS, fallback.codec)


def run_renditions(app: Celery, ctx: WorkerContext, job_id: str, profiles: list[str],
                   task_id: str | None) -> tuple[Outcome, list[str]]:
    """Encode the given renditions of a job together, each at most once cluster-wide.

    Returns the outcome and the profiles another live worker holds (left to it). A task
    interrupted from outside (the broker connection lost, the pool process terminated)
    leaves its renditions listed for the reaper, which queues them again once the leases
    are gone.
    """
    job = ctx.store.get(job_id)
    if job is None or job.terminal:
        return Outcome.SKIPPED, []
    open_profiles = [r.profile for r in job.renditions if r.profile in profiles and not r.terminal]
    leases: dict[str, Lease] = {}
    busy: list[str] = []
    try:
        with ExitStack() as stack:
            for profile in open_profiles:
                lease = stack.enter_context(held(
                    ctx.redis, job_id, profile, ctx.hostname, task_id, ctx.settings.lease_s,
                    still_open=partial(_still_open, ctx, job_id, profile)))
                if lease is None:
                    busy.append(profile)
                else:
                    leases[profile] = lease
            if not leases:
                return (Outcome.BUSY if busy else Outcome.SKIPPED), busy
            try:
                return _encode_under_leases(app, ctx, job_id, leases), busy
            except StaleUpdate:
                return Outcome.STOPPED, busy
    finally:
        finalize_when_complete(app, ctx, job_id)


def _still_open(ctx: WorkerContext, job_id: str, profile: str) -> bool:
    job = ctx.store.get(job_id)
    return job is not None and not job.terminal and not job.rendition(profile).terminal


def _encode_under_leases(app: Celery, ctx: WorkerContext, job_id: str,
                         leases: dict[str, Lease]) -> Outcome:
    job = update_each(ctx, job_id, list(leases), start_attempt(ctx))
    ctx.notify_job(app, job)
    active = [job.rendition(p) for p in leases if job.rendition(p).state == RenditionState.ENCODING]
    if not active or job.source is None:
        return Outcome.FAILED
    settings, profiles = ctx.settings, [r.profile for r in active]
    targets = [EncodeTarget(plan_of(r), settings.job_output_dir(job_id) / str(r.output))
               for r in active]
    copy = all(t.plan.passthrough for t in targets)
    codecs = codec_chain(RenditionPlan(targets[0].plan.profile, 0, 0, copy),
                         ctx.hardware_encoders, copy_only=job.mode == JobMode.PASSTHROUGH)
    reporters = [ProgressReporter(ctx.store, ctx.emitter, job_id, p, job.source.duration,
                                  leases[p], hz=settings.progress_hz,
                                  renew_every_s=settings.heartbeat_s) for p in profiles]

    def on_progress(progress: Progress, bitrates: list[float | None]) -> None:
        for reporter, bitrate in zip(reporters, bitrates, strict=True):
            reporter.on_progress(progress, bitrate)

    def on_tick() -> bool:
        return all([reporter.on_tick() for reporter in reporters])

    def on_attempt(codec: str, fallbacks: list[Fallback]) -> None:
        def apply(job: Job, rendition: Rendition) -> None:
            rendition.codec, rendition.fallbacks, rendition.percent = codec, fallbacks, 0.0

        ctx.notify_job(app, update_each(ctx, job_id, profiles, apply))

    started = time.monotonic()
    try:
        results = encode_group(
            settings.uploads_dir / job.source_file, job.source, targets, codecs,
            options=EncodeOptions(settings.ffmpeg_bin, settings.x264_threads,
                                  settings.segment_seconds),
            ffprobe_bin=settings.ffprobe_bin, nice=settings.ffmpeg_nice,
            on_progress=on_progress, on_tick=on_tick, on_attempt=on_attempt,
        )
    except EncodeStopped:
        log.info("%s %s stopped (canceled or taken over)", job_id, ", ".join(profiles))
        return Outcome.STOPPED
    except EncodeFailed as exc:
        ctx.notify_job(app, fail_renditions(ctx, job_id, profiles, str(exc), exc.fallbacks))
        return Outcome.FAILED
    except SoftTimeLimitExceeded:
        error = f"The encode ran over the {settings.task_time_limit_s}s time limit."
        ctx.notify_job(app, fail_renditions(ctx, job_id, profiles, error))
        return Outcome.FAILED
    try:
        playlists = package_hls(ctx, job, profiles, results)
    except PackagingFailed as exc:
        ctx.notify_job(app, fail_renditions(ctx, job_id, profiles, str(exc)))
        return Outcome.FAILED
    seconds = (time.monotonic() - started) / len(results)
    for profile, result, playlist in zip(profiles, results, playlists, strict=True):
        _count(ctx, result, seconds)
        job = finish_rendition(ctx, job_id, result, profile, playlist)
    ctx.notify_job(app, job)
    return Outcome.DONE
