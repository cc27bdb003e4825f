"""The end of every successful encoding step: package, record done, count, announce."""

from __future__ import annotations

from common import metrics
from common.jobs import Job
from workers.ffmpeg.encode import EncodeResult
from workers.ffmpeg.hls import PackagingFailed
from workers.runtime.context import WorkerContext
from workers.steps import record
from workers.steps.attempt import Attempt, fail
from workers.steps.package import package_hls


def publish(ctx: WorkerContext, job: Job, attempt: Attempt, results: list[EncodeResult],
            seconds: float | None = None) -> None:
    """Package the finished renditions and mark them done (failed if packaging fails)."""
    try:
        playlists = package_hls(ctx, job, attempt.profiles, results)
    except PackagingFailed as exc:
        fail(ctx, job.id, attempt, str(exc))
    for profile, result, playlist in zip(attempt.profiles, results, playlists, strict=True):
        if seconds is not None:
            count_encode(ctx, result, seconds / len(results))
        job = ctx.store.update_rendition(job.id, profile, record.finish(result, playlist))
    ctx.notify_job(job)


def count_encode(ctx: WorkerContext, result: EncodeResult, seconds: float) -> None:
    metrics.add(ctx.redis, metrics.RENDITIONS_ENCODED, result.codec)
    metrics.add(ctx.redis, metrics.ENCODE_SECONDS, result.codec, seconds)
    for fallback in result.fallbacks:
        metrics.add(ctx.redis, metrics.FALLBACKS, fallback.codec)
