"""The plan step: probe the upload, plan its ladder and slices, enqueue the encodes (or,
for a per-title job, its analysis)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from common.jobs import AudioTrack, Job, JobMode, Rendition, SourceInfo
from common.ladder import (
    LadderError,
    Profile,
    RenditionPlan,
    load_ladder,
    plan_renditions,
    select_profiles,
)
from common.pertitle import LadderMode
from common.registry import WorkerInfo, list_workers, queue_for
from common.states import JobState, RenditionState
from common.storage import PublishAborted, StorageError, Workspace
from common.store import StaleUpdate
from common.tasknames import ANALYZE_LADDER, QUEUE_CPU, QUEUE_GPU
from common.workref import WorkRef
from workers.ffmpeg.audio_parts import plan_cuts, splittable
from workers.ffmpeg.poster import Poster, poster_time
from workers.ffmpeg.probe import ProbeError, keyframes_before, probe_source
from workers.runtime.context import WorkerContext
from workers.runtime.lease import Lease
from workers.steps import layout
from workers.steps.dispatch import dispatch_encodes, mark_sent
from workers.steps.finalize import fail_job
from workers.steps.leased import PLANNING, Outcome, run_leased_step, unsent_by_plan
from workers.steps.slices import SlicePlan, chunk_length, plan_slices

log = logging.getLogger(__name__)

def _fresh_or_kept(job: Job, plans: list[RenditionPlan],
                   queues: dict[str, str]) -> list[Rendition]:
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
            passthrough=plan.passthrough, queue=queues[plan.profile.codec],
            output=f"{plan.profile.name}.mp4",
            target=plan.profile.to_dict(), video_codec=plan.profile.codec,
        ))
    return renditions


def start_job(ctx: WorkerContext, job_id: str, task_id: str | None = None) -> list[str]:
    """Probe the upload, plan the ladder and enqueue one encode per rendition, under the
    job's plan lease (a worker killed mid-probe passes the job on within a lease period).

    Returns the profiles enqueued. Safe to run twice: a job already past probing, or
    finished, is left alone (unless its planner died before sending its next tasks: then
    they are sent), and renditions already done are kept.
    """
    sent, outcome, _busy = run_leased_step(
        ctx, WorkRef.plan(job_id), task_id,
        lambda ws, lease: _plan(ctx, ws, job_id, lease))
    if outcome == Outcome.SKIPPED:
        job = ctx.store.get(job_id)
        log.info("job %s is %s; nothing to start", job_id, job and job.state)
    return sent or []


def _plan(ctx: WorkerContext, ws: Workspace, job_id: str, lease: Lease) -> list[str]:
    job = ctx.store.get(job_id)
    if job is None or job.terminal:
        return []
    if unsent_by_plan(job):  # the last planner was killed after planning: send on its behalf
        log.warning("job %s: planned, but its tasks were never sent; sending them", job_id)
        return _send_next(ctx, job, list_workers(ctx.redis, include_offline=False))
    if job.state not in PLANNING:
        return []
    job = ctx.store.set_state(job_id, JobState.PROBING)
    ctx.notify_job(job)
    settings = ctx.settings
    try:
        layout.check_job(job)
        profiles = select_profiles(load_ladder(settings.profiles_file), job.requested_profiles)
        online = list_workers(ctx.redis, include_offline=False)  # read once per job start
        source_file = ws.fetch(layout.source_key(job))
        source = probe_source(source_file, ffprobe_bin=settings.ffprobe_bin,
                              timeout_s=settings.probe_timeout_s,
                              max_pixels=settings.max_source_pixels,
                              max_seconds=settings.max_source_seconds,
                              nice=settings.ffmpeg_nice)
        _check_codecs_online(ctx, profiles, online)
        plans = plan_renditions(source, profiles,
                                passthrough_mode=job.mode == JobMode.PASSTHROUGH)
        length = 0.0 if job.mode == JobMode.PASSTHROUGH else chunk_length(
            source.duration, settings, job.chunk_seconds)
        queues = _queues(online, plans, chunked=bool(length))
        slots = _slots(online, queues)
        slices = _slices(ctx, source_file, source.duration, length,
                         slots) if length else None
        if slices is not None and len(slices.cuts) < 2:  # too short to share: whole
            slices, length = None, 0.0
    except (ProbeError, LadderError, layout.UnsafeRecord, StorageError) as exc:
        fail_job(ctx, job_id, str(exc))
        return []
    per_title = job.ladder == LadderMode.PER_TITLE and job.mode != JobMode.PASSTHROUGH
    if per_title:  # a copy is not "the fewest bits that reach the target": every rung is encoded
        plans = [replace(plan, passthrough=False) for plan in plans]

    def apply(job: Job) -> None:
        if job.state != JobState.PROBING:
            raise StaleUpdate(job.state)
        job.source = source
        job.state = JobState.ANALYZING if per_title else JobState.ENCODING
        job.per_title = None
        job.tasks_sent = False
        job.renditions = _fresh_or_kept(job, plans, queues)
        _apply_slices(job, length, slices, slots, settings.audio_lead_s)

    job = ctx.store.update(job_id, apply, fence=lease.fence)
    ctx.notify_job(job)
    with _poster_from_source(ctx, ws, job, source_file, lease):
        return _send_next(ctx, job, online)


def keyframe_for_poster(source: SourceInfo) -> bool:
    """Whether the source may have a keyframe where the poster is taken: False only when the
    probe saw every keyframe and the last one comes before (one-GOP clips, most short ones)."""
    last = source.last_keyframe_s
    return last is None or last >= poster_time(source.duration)


@contextlib.contextmanager
def _poster_from_source(ctx: WorkerContext, ws: Workspace, job: Job, source_file: Path,
                        lease: Lease) -> Iterator[None]:
    """Make the job's poster from its source while the step sends its next tasks, and record
    it: one keyframe decoded, and the dashboard shows the picture while the job encodes (the
    finalize step makes one from a rendition only when this made none)."""
    if job.poster is not None or job.source is None or not keyframe_for_poster(job.source):
        yield
        return
    settings, key = ctx.settings, layout.poster_key(job.id)
    ws.path(key).parent.mkdir(parents=True, exist_ok=True)
    with Poster(source_file, ws.path(key), job.source.duration, settings.ffmpeg_bin,
                settings.ffmpeg_nice, keyframes_only=True,
                max_pixels=settings.max_source_pixels) as making:
        yield
        poster = making.finish()
    if poster is None:
        return
    try:
        ws.publish(key, lease.renew)
    except (PublishAborted, StorageError) as exc:  # finalize makes one from a rendition
        log.warning("job %s: the poster made from its source was not stored: %s", job.id, exc)
        return

    def record(job: Job) -> None:
        if job.terminal:
            raise StaleUpdate(job.state)
        job.poster = poster

    try:
        ctx.notify_job(ctx.store.update(job.id, record, fence=lease.fence))
    except StaleUpdate:  # canceled meanwhile (or done, with finalize's poster recorded)
        log.info("job %s ended before its poster was recorded", job.id)
        ended = ctx.store.get(job.id)
        if ended is not None and ended.poster is None:
            ctx.storage.remove(key)


def _apply_slices(job: Job, length: float, slices: SlicePlan | None, slots: int,
                  lead_s: float) -> None:
    job.chunk_length_s = length
    job.chunk_bounds = slices.bounds if slices else []
    job.chunk_cuts = slices.cuts if slices else []
    job.audio_track, job.audio_attempts = AudioTrack.IN_STITCH, 0
    job.audio_cuts, job.audio_lead_s = [], 0.0
    if not slices:
        return
    count = len(slices.cuts)
    sliced = [r for r in job.renditions
              if r.state != RenditionState.DONE and not r.passthrough]
    for rendition in sliced:
        rendition.chunks = count
        rendition.chunk_percent = [0.0] * count
        rendition.chunk_attempts = [0] * count
        rendition.chunk_workers = [None] * count
    source = job.source
    if not sliced or source is None or not source.has_audio:
        return
    if splittable(source) and source.audio_rate:
        # one part per encode slot, each encoded by one of the first slices
        job.audio_track, job.audio_lead_s = AudioTrack.IN_SLICES, lead_s
        job.audio_cuts = plan_cuts(source.duration, source.audio_rate, min(slots, count), lead_s)
    else:  # no exact frame grid to cut on: one track, encoded by a task of its own
        job.audio_track = AudioTrack.PENDING


def _send_next(ctx: WorkerContext, job: Job, online: list[WorkerInfo]) -> list[str]:
    """Send what the planned job needs next (its analysis, or its encodes), then record
    that it was sent."""
    if job.state == JobState.ANALYZING:
        ctx.send(ANALYZE_LADDER, [job.id])
        log.info("job %s: per-title analysis queued", job.id)
        enqueued: list[str] = []
    else:
        enqueued = dispatch_encodes(ctx, job, online)
    mark_sent(ctx, job.id, unsent_by_plan)
    return enqueued


def _slices(ctx: WorkerContext, source_file: Path, duration_s: float, length_s: float,
            slots: int) -> SlicePlan:
    """The job's slices: equal shares for the encode ``slots``, cut on source keyframes
    where one sits near a boundary."""
    settings = ctx.settings

    def keyframes(times: list[float]) -> list[float]:
        return keyframes_before(source_file, times, settings.ffprobe_bin, settings.probe_timeout_s,
                                nice=settings.ffmpeg_nice)

    return plan_slices(duration_s, length_s, settings.segment_seconds, slots, keyframes)


def _slots(online: list[WorkerInfo], queues: dict[str, str]) -> int:
    """The encode slots (pool processes) online on the queue a chunked job's slices take."""
    queue = next(iter(queues.values()), QUEUE_CPU)
    return sum(w.concurrency for w in online if queue in w.queues)


def _queues(online: list[WorkerInfo], plans: list[RenditionPlan],
            chunked: bool) -> dict[str, str]:
    """Each codec's queue: ``gpu`` where a GPU worker has hardware for it. One task per slice
    encodes every rung of a chunked job, so there all codecs share one (gpu if any goes)."""
    queues = {p.profile.codec: queue_for(online, p.profile.codec) for p in plans}
    if chunked and QUEUE_GPU in queues.values():
        queues = dict.fromkeys(queues, QUEUE_GPU)
    return queues


def _check_codecs_online(ctx: WorkerContext, profiles: tuple[Profile, ...],
                         online: list[WorkerInfo]) -> None:
    """Raise a :class:`LadderError` sentence when no online worker can encode a rung's codec
    (skipped by a context that never probed its FFmpeg)."""
    if not ctx.software_codecs:
        return
    encodable = {c for w in online for c in w.codecs} | set(ctx.software_codecs)
    missing = sorted({p.codec for p in profiles} - encodable)
    if missing:
        rungs = ", ".join(p.name for p in profiles if p.codec in missing)
        raise LadderError(f"No online worker can encode {', '.join(missing)} (profile "
                          f"{rungs}): their FFmpeg lacks the encoder.")
