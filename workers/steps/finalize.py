"""The finalize step: once every rendition ended, manifests, the poster if the plan step
made none, quality, state."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator

from common.jobs import AudioTrack, Job, Rendition
from common.states import JobState, RenditionState
from common.storage import StorageError, Workspace
from common.store import StaleUpdate
from common.tasknames import FINALIZE_JOB
from workers.ffmpeg.hls import PackagingFailed
from workers.ffmpeg.poster import Poster
from workers.ffmpeg.quality import Measured, Score, measure_qualities
from workers.runtime.context import WorkerContext
from workers.steps import layout
from workers.steps.package import write_manifests

log = logging.getLogger(__name__)


def fail_job(ctx: WorkerContext, job_id: str, error: str) -> None:
    """Mark the job failed with a sentence for the user, unless it already ended."""
    try:
        job = ctx.store.set_state(job_id, JobState.FAILED, error=error)
    except StaleUpdate:
        return
    log.info("job %s failed: %s", job_id, error)
    ctx.notify_job(job)


def finalize_when_complete(ctx: WorkerContext, job_id: str) -> None:
    """Enqueue the finalize step once every rendition has ended (duplicates are harmless)."""
    job = ctx.store.get(job_id)
    if job is not None and not job.terminal and all(r.terminal for r in job.renditions):
        ctx.send(FINALIZE_JOB, [job_id])


def _failure_summary(job: Job) -> str:
    failed = [r for r in job.renditions if r.state == RenditionState.FAILED]
    return " ".join(f"{r.profile} failed: {r.error}" for r in failed)


def _measure(ctx: WorkerContext, ws: Workspace, job: Job,
             finished: list[Rendition]) -> dict[str, Score]:
    """Measure SSIM and PSNR of every finished rendition against the source, all in one
    FFmpeg (those the per-title check measured before publishing keep their figures)."""
    settings = ctx.settings
    unmeasured = [r for r in finished if r.ssim is None]
    if not unmeasured:
        return {}
    scores = measure_qualities(
        [Measured(ws.fetch(layout.rendition_key(job.id, r)), r.width or 0, r.height or 0)
         for r in unmeasured],
        ws.fetch(layout.source_key(job)), settings.ffmpeg_bin, settings.ffmpeg_nice,
        settings.max_source_pixels)
    return {r.profile: score for r, score in zip(unmeasured, scores, strict=True)
            if score is not None}


@contextlib.contextmanager
def _poster_beside(ctx: WorkerContext, ws: Workspace, job: Job,
                   finished: list[Rendition]) -> Iterator[Callable[[], str | None]]:
    """Start the poster's FFmpeg (from the smallest finished rendition) and yield the call
    that waits for it and publishes it: the job's other packaging runs meanwhile. A poster
    the plan step made from the source is kept."""
    if job.poster is not None or not finished or job.source is None:
        yield lambda: job.poster
        return
    smallest = min(finished, key=lambda r: (r.height or 0))
    key = layout.poster_key(job.id)
    ws.path(key).parent.mkdir(parents=True, exist_ok=True)
    with Poster(ws.fetch(layout.rendition_key(job.id, smallest)), ws.path(key),
                job.source.duration, ctx.settings.ffmpeg_bin,
                nice=ctx.settings.ffmpeg_nice) as making:

        def finish() -> str | None:
            poster = making.finish()
            if poster is not None:
                ws.publish(key)
            return poster

        yield finish


def _remove_audio_tracks(ws: Workspace, job: Job) -> None:
    try:
        ws.remove_tree(layout.audio_dir_key(job.id))
    except StorageError as exc:  # the job is whole; leftover tracks are only space
        log.warning("job %s: audio tracks not removed: %s", job.id, exc)


def finalize_job(ctx: WorkerContext, job_id: str) -> JobState | None:
    """Make the poster and move the job to done, failed or canceled."""
    job = ctx.store.get(job_id)
    if job is None or job.terminal or not all(r.terminal for r in job.renditions):
        return None
    try:
        layout.check_job(job)
    except layout.UnsafeRecord as exc:
        fail_job(ctx, job_id, str(exc))
        return JobState.FAILED
    state = job.summarize_state()
    finished = [r for r in job.renditions if r.state == RenditionState.DONE and r.output]
    try:
        with ctx.storage.workspace() as ws, _poster_beside(ctx, ws, job, finished) as poster_done:
            manifests = write_manifests(ctx, ws, job, finished)
            poster = poster_done()
            scores = _measure(ctx, ws, job, finished) if job.quality else {}
            if job.audio_track != AudioTrack.IN_STITCH:  # every stitch has copied it
                _remove_audio_tracks(ws, job)
    except (StorageError, PackagingFailed) as exc:
        fail_job(ctx, job_id, f"The finished renditions could not be packaged: {exc}")
        return JobState.FAILED

    def apply(job: Job) -> None:
        job.state = state
        job.poster = poster
        job.master_playlist = manifests.master_playlist
        job.dash_manifest = manifests.dash_manifest
        for rendition in job.renditions:
            if rendition.profile in scores:
                rendition.ssim, rendition.psnr = scores[rendition.profile]
        if state == JobState.FAILED:
            job.error = _failure_summary(job)

    try:
        job = ctx.store.update(job_id, apply)
    except StaleUpdate:
        return None
    ctx.notify_job(job)
    ctx.storage.evict_cached(layout.source_key(job))
    log.info("job %s %s", job_id, state)
    return state
