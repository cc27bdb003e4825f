"""The end of every successful encoding step: store the outputs, record done, announce."""

from __future__ import annotations

from common import metrics
from common.jobs import Job
from common.storage import PublishAborted, StorageError
from workers.ffmpeg.encode import EncodeResult
from workers.ffmpeg.hls import PackagingFailed
from workers.runtime.context import WorkerContext
from workers.steps import layout, record
from workers.steps.attempt import Attempt, AttemptEnded, fail
from workers.steps.leased import Outcome
from workers.steps.package import package_hls, publish_audio
from workers.steps.verify import check_results


def publish(ctx: WorkerContext, job: Job, attempt: Attempt, results: list[EncodeResult],
            seconds: float | None = None) -> None:
    """Store each verified MP4 and its HLS segments, then mark the renditions done (a
    per-title job's renditions are measured first, and a miss encoded again once).

    Every upload and every record write is fenced by the rendition's lease: work that
    passed to another worker meanwhile is neither published nor recorded by this one.
    """
    guards = {p: attempt.leases[p].renew for p in attempt.profiles}
    try:
        results, verdicts = check_results(ctx, job, attempt, results)
    except StorageError as exc:
        fail(ctx, job.id, attempt, str(exc))
    try:
        for profile in attempt.profiles:
            attempt.ws.publish(layout.mp4_key(job.id, profile), guards[profile])
        packaged = package_hls(ctx, attempt.ws, job, attempt.profiles, results, guards)
        audio = [publish_audio(ctx, attempt.ws, job, result, guards[profile])
                 for profile, result in zip(attempt.profiles, results, strict=True)]
    except PublishAborted:
        raise AttemptEnded(Outcome.STOPPED) from None
    except (PackagingFailed, StorageError) as exc:
        fail(ctx, job.id, attempt, str(exc))
    for profile, result, variant, audio_rendition in zip(attempt.profiles, results, packaged,
                                                         audio, strict=True):
        if seconds is not None:
            count_encode(ctx, result, seconds / len(results))
        done = record.finish(result, variant, verdicts.get(profile), audio_rendition)
        job = ctx.store.update_rendition(job.id, profile, done,
                                         fence=attempt.leases[profile].fence)
    ctx.notify_job(job)


def count_encode(ctx: WorkerContext, result: EncodeResult, seconds: float) -> None:
    metrics.add(ctx.redis, metrics.RENDITIONS_ENCODED, result.codec)
    metrics.add(ctx.redis, metrics.ENCODE_SECONDS, result.codec, seconds)
    for fallback in result.fallbacks:
        metrics.add(ctx.redis, metrics.FALLBACKS, fallback.codec)
