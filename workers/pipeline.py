"""Job-level steps behind the tasks: probe and plan, then finalize once every rendition ends."""

from __future__ import annotations

import logging
import time

from celery import Celery

from common.jobs import Job, JobMode, JobState, Rendition, RenditionState
from common.ladder import LadderError, load_ladder, plan_renditions, select_profiles
from common.registry import choose_queue, list_workers
from common.store import StaleUpdate
from common.tasknames import ENCODE_CHUNK, ENCODE_RENDITIONS, FINALIZE_JOB
from workers.chunk_plan import chunk_count, chunk_length
from workers.context import WorkerContext
from workers.ffmpeg.probe import ProbeError, probe_source
from workers.hls import variant, write_master
from workers.poster import make_poster
from workers.quality import measure_quality

log = logging.getLogger(__name__)


def fail_job(app: Celery, ctx: WorkerContext, job_id: str, error: str) -> None:
    """Mark the job failed with a sentence for the user, unless it already ended."""
    try:
        job = ctx.store.set_state(job_id, JobState.FAILED, error=error)
    except StaleUpdate:
        return
    log.info("job %s failed: %s", job_id, error)
    ctx.notify_job(app, job)


def _fresh_or_kept(job: Job, plans: list, queue: str) -> list[Rendition]:
    """Return renditions for the plans, keeping any that a previous run finished."""
    existing = {r.profile: r for r in job.renditions}
    renditions = []
    for plan in plans:
        kept = existing.get(plan.profile.name)
        if kept is not None and kept.state == RenditionState.DONE:
            renditions.append(kept)
            continue
        renditions.append(Rendition(
            profile=plan.profile.name, width=plan.width, height=plan.height,
            passthrough=plan.passthrough, queue=queue, output=f"{plan.profile.name}.mp4",
            target=plan.profile.to_dict(),
        ))
    return renditions


def start_job(app: Celery, ctx: WorkerContext, job_id: str) -> list[str]:
    """Probe the upload, plan the ladder and enqueue one encode per rendition.

    Returns the profiles enqueued. Safe to run twice: a job already past probing, or
    finished, is left alone, and renditions already done are kept.
    """
    job = ctx.store.get(job_id)
    if job is None or job.state not in (JobState.QUEUED, JobState.PROBING):
        log.info("job %s is %s; nothing to start", job_id, job and job.state)
        return []
    try:
        job = ctx.store.set_state(job_id, JobState.PROBING)
    except StaleUpdate:
        return []
    ctx.notify_job(app, job)
    settings = ctx.settings
    try:
        source = probe_source(settings.uploads_dir / job.source_file,
                              ffprobe_bin=settings.ffprobe_bin, timeout_s=settings.probe_timeout_s,
                              max_pixels=settings.max_source_pixels)
        profiles = select_profiles(load_ladder(settings.profiles_file), job.requested_profiles)
    except (ProbeError, LadderError) as exc:
        fail_job(app, ctx, job_id, str(exc))
        return []
    plans = plan_renditions(source, profiles, passthrough_mode=job.mode == JobMode.PASSTHROUGH)
    queue = choose_queue(ctx.redis)
    length = 0.0 if job.mode == JobMode.PASSTHROUGH else chunk_length(
        source.duration, settings, job.chunk_seconds)

    def apply(job: Job) -> None:
        job.source = source
        job.state = JobState.ENCODING
        job.renditions = _fresh_or_kept(job, plans, queue)
        job.chunk_length_s = length
        if length:
            count = chunk_count(source.duration, length)
            for rendition in job.renditions:
                if rendition.state != RenditionState.DONE and not rendition.passthrough:
                    rendition.chunks = count
                    rendition.chunk_percent = [0.0] * count
                    rendition.chunk_attempts = [0] * count

    try:
        job = ctx.store.update(job_id, apply)
    except StaleUpdate:
        return []
    ctx.notify_job(app, job)
    pending = [r for r in job.renditions if r.state != RenditionState.DONE]
    whole = [r for r in pending if not r.chunks]
    for group in group_renditions(whole, _workers_on(ctx, queue), settings.fuse_renditions):
        app.send_task(ENCODE_RENDITIONS, args=[job_id, group], queue=queue)
    chunked = [r for r in pending if r.chunks]
    for index in range(chunked[0].chunks if chunked else 0):
        app.send_task(ENCODE_CHUNK, args=[job_id, index], queue=queue)
    if not pending:
        app.send_task(FINALIZE_JOB, args=[job_id])
    profiles = [r.profile for r in pending]
    log.info("job %s: %s on queue %s", job_id, ", ".join(profiles) or "nothing to encode", queue)
    return profiles


def _workers_on(ctx: WorkerContext, queue: str) -> int:
    return sum(1 for w in list_workers(ctx.redis, include_offline=False) if queue in w.queues)


def group_renditions(renditions: list[Rendition], workers: int, fuse: bool) -> list[list[str]]:
    """Split renditions into one group per worker, balanced by pixels, each one FFmpeg.

    Stream copies stay alone (they need no decode); without ``fuse`` every rendition is
    its own group.
    """
    copies = [[r.profile] for r in renditions if r.passthrough]
    encodes = sorted((r for r in renditions if not r.passthrough),
                     key=lambda r: (r.width or 0) * (r.height or 0), reverse=True)
    if not fuse:
        return copies + [[r.profile] for r in encodes]
    count = max(1, min(workers, len(encodes)))
    groups: list[list[Rendition]] = [[] for _ in range(count)]
    for rendition in encodes:
        lightest = min(groups, key=lambda g: sum((r.width or 0) * (r.height or 0) for r in g))
        lightest.append(rendition)
    return copies + [[r.profile for r in group] for group in groups if group]


def finalize_when_complete(app: Celery, ctx: WorkerContext, job_id: str) -> None:
    """Enqueue the finalize step once every rendition has ended (duplicates are harmless)."""
    job = ctx.store.get(job_id)
    if job is not None and not job.terminal and all(r.terminal for r in job.renditions):
        app.send_task(FINALIZE_JOB, args=[job_id])


def _failure_summary(job: Job) -> str:
    failed = [r for r in job.renditions if r.state == RenditionState.FAILED]
    return " ".join(f"{r.profile} failed: {r.error}" for r in failed)


def _write_master(ctx: WorkerContext, job: Job, finished: list[Rendition]) -> str | None:
    """Write the job's HLS master playlist over every packaged rendition."""
    packaged = [r for r in finished if r.playlist]
    if not packaged or job.source is None:
        return None
    job_dir = ctx.settings.job_output_dir(job.id)
    variants = [variant(job_dir, str(r.playlist), job_dir / str(r.output), r.width or 0,
                        r.height or 0, job.source.fps, ctx.settings.ffprobe_bin)
                for r in packaged]
    return write_master(job_dir, variants)


def _measure(ctx: WorkerContext, job: Job,
             finished: list[Rendition]) -> dict[str, tuple[float, float]]:
    """Measure SSIM and PSNR of every finished rendition against the source."""
    settings, scores = ctx.settings, {}
    out_dir = settings.job_output_dir(job.id)
    for rendition in finished:
        score = measure_quality(out_dir / str(rendition.output),
                                settings.uploads_dir / job.source_file, rendition.width or 0,
                                rendition.height or 0, settings.ffmpeg_bin, settings.ffmpeg_nice)
        if score is not None:
            scores[rendition.profile] = score
    return scores


def finalize_job(app: Celery, ctx: WorkerContext, job_id: str) -> JobState | None:
    """Make the poster and move the job to done, failed or canceled."""
    job = ctx.store.get(job_id)
    if job is None or job.terminal or not all(r.terminal for r in job.renditions):
        return None
    state = job.summarize_state()
    poster = None
    finished = [r for r in job.renditions if r.state == RenditionState.DONE and r.output]
    if finished and job.source is not None:
        smallest = min(finished, key=lambda r: (r.height or 0))
        out_dir = ctx.settings.job_output_dir(job_id)
        poster = make_poster(out_dir / str(smallest.output), out_dir / "poster.jpg",
                             job.source.duration, ctx.settings.ffmpeg_bin)

    master = _write_master(ctx, job, finished)
    scores = _measure(ctx, job, finished) if job.quality else {}

    def apply(job: Job) -> None:
        job.state = state
        job.poster = poster
        job.master_playlist = master
        for rendition in job.renditions:
            if rendition.profile in scores:
                rendition.ssim, rendition.psnr = scores[rendition.profile]
        job.finished_at = time.time()
        if state == JobState.FAILED:
            job.error = _failure_summary(job)

    try:
        job = ctx.store.update(job_id, apply)
    except StaleUpdate:
        return None
    ctx.notify_job(app, job)
    log.info("job %s %s", job_id, state)
    return state
