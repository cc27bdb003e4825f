"""The encode-chunk step: one time slice of every chunked rendition of a job, one decode."""

from __future__ import annotations

import logging

from common import keys
from common.jobs import AudioTrack, Job, Rendition
from common.storage import PublishAborted, StorageError, Workspace
from common.tasknames import ENCODE_CHUNK, QUEUE_CPU, STITCH_RENDITION
from common.workref import WorkRef
from workers.ffmpeg.audio_parts import audio_part, part_count
from workers.ffmpeg.commands import AudioWindow
from workers.ffmpeg.encode import EncodeResult, EncodeTarget, codec_chain
from workers.runtime.context import WorkerContext
from workers.runtime.lease import Lease
from workers.steps import attempt, layout, record
from workers.steps.audio_tracks import AudioFailed, audio_bitrates, encode_tracks
from workers.steps.finalize import finalize_when_complete
from workers.steps.leased import Outcome, run_leased, stitch_ready
from workers.steps.slices import chunk_window

log = logging.getLogger(__name__)


def run_chunk(ctx: WorkerContext, job_id: str, index: int, task_id: str | None) -> Outcome:
    """Encode slice ``index`` of every chunked rendition of the job, with one decode."""

    def work(ws: Workspace, leases: dict[WorkRef, Lease]) -> Outcome:
        [lease] = leases.values()
        return _encode(ctx, ws, job_id, index, lease)

    def then() -> None:
        stitch_when_ready(ctx, job_id)
        finalize_when_complete(ctx, job_id)

    outcome, _busy = run_leased(ctx, [WorkRef.chunk(job_id, index)], task_id, work, then=then)
    if outcome == Outcome.DONE:
        queue_next_chunk(ctx, job_id)
    return outcome


def queue_next_chunk(ctx: WorkerContext, job_id: str) -> int | None:
    """Queue the job's next unqueued slice, if any: each finished slice admits one more.

    So a job never has more than ``chunk_window`` slice tasks waiting, and tasks of jobs
    submitted later queue between its slices instead of behind all of them.
    """
    job = ctx.store.get(job_id)
    chunked = [r for r in job.renditions if r.chunks] if job is not None else []
    if job is None or job.terminal or not chunked:
        return None
    index = int(ctx.redis.incr(keys.chunk_cursor(job_id))) - 1
    if index >= chunked[0].chunks:
        return None
    ctx.send(ENCODE_CHUNK, [job_id, index], queue=chunked[0].queue or QUEUE_CPU)
    return index


def _encode(ctx: WorkerContext, ws: Workspace, job_id: str, index: int,
            lease: Lease) -> Outcome:
    job = ctx.store.get(job_id)
    assert job is not None
    profiles = [r.profile for r in job.renditions if r.chunk_open(index)]
    try:
        job, active = attempt.begin(ctx, job_id, profiles, dict.fromkeys(profiles, lease),
                                    chunk=index)
        _encode_audio_part(ctx, ws, job, index, [r.profile for r in active], lease)
        for codec in dict.fromkeys(r.video_codec for r in active):  # one FFmpeg per codec
            group = [r for r in active if r.video_codec == codec]
            this, results = _encode_slice(ctx, ws, job, index, group, lease)
            by_profile = dict(zip(this.profiles, results, strict=True))
            record.update_each(ctx, job_id, this.profiles,
                               record.chunk_encoded(index, by_profile), this.leases)
    except attempt.AttemptEnded as ended:
        return ended.outcome
    return Outcome.DONE


def _encode_audio_part(ctx: WorkerContext, ws: Workspace, job: Job, index: int,
                       profiles: list[str], lease: Lease) -> None:
    """Before its video, slice ``index`` of an ``in-slices`` job encodes and stores audio
    part ``index``, if the job has one: the first slices run on different workers, so the
    audio is shared out instead of lengthening one worker's share. Each stitch waits for
    every slice, so it finds every part stored."""
    source = job.source
    if (job.audio_track != AudioTrack.IN_SLICES or source is None or not source.audio_rate
            or index >= part_count(job.audio_cuts)):
        return
    part = audio_part(job.audio_cuts, index, source.audio_rate, job.audio_lead_s)
    keys = {kbps: layout.audio_part_key(job.id, kbps, index) for kbps in audio_bitrates(job)}
    this = attempt.Attempt(job.id, profiles, dict.fromkeys(profiles, lease), ws, [],
                           chunk=index)
    try:
        encoded = encode_tracks(ctx, ws, job, keys, AudioWindow(part.start_s, part.duration_s))
    except AudioFailed as exc:
        attempt.fail(ctx, job.id, this, str(exc))
    if encoded is None:
        raise attempt.AttemptEnded(Outcome.STOPPED)
    _publish_chunks(ctx, this, encoded, lease)
    log.info("job %s: audio part %d of %d encoded by slice %d (%.2fs from %.2fs)", job.id,
             index + 1, part_count(job.audio_cuts), index + 1, part.duration_s
             or source.duration - part.start_s, part.start_s)


def _encode_slice(ctx: WorkerContext, ws: Workspace, job: Job, index: int,
                  group: list[Rendition], lease: Lease
                  ) -> tuple[attempt.Attempt, list[EncodeResult]]:
    """Encode slice ``index`` of renditions of one codec with one FFmpeg; publish the files."""
    keys = [layout.chunk_key(job.id, r.profile, index) for r in group]
    targets = [EncodeTarget(record.plan_of(r), ws.path(key))
               for r, key in zip(group, keys, strict=True)]
    codecs = codec_chain(targets[0].plan, record.hardware_for(ctx, group[0]))
    this = attempt.Attempt(job.id, [r.profile for r in group],
                           dict.fromkeys((r.profile for r in group), lease), ws, codecs,
                           chunk=index, window=chunk_window(job, index))
    results = attempt.encode(ctx, job, this, targets)
    _publish_chunks(ctx, this, keys, lease)
    return this, results


def _publish_chunks(ctx: WorkerContext, this: attempt.Attempt, keys: list[str],
                    lease: Lease) -> None:
    """Store the slice's files for whichever worker stitches them (fenced by the lease)."""
    try:
        for key in keys:
            this.ws.publish(key, lease.renew)
    except PublishAborted:
        raise attempt.AttemptEnded(Outcome.STOPPED) from None
    except StorageError as exc:
        attempt.fail(ctx, this.job_id, this, str(exc))


def stitch_when_ready(ctx: WorkerContext, job_id: str) -> None:
    """Enqueue the stitch of every encoding rendition whose chunks (and the job's audio
    track) are all encoded."""
    job = ctx.store.get(job_id)
    if job is None or job.terminal:
        return
    for rendition in job.renditions:
        if stitch_ready(job, rendition) and not rendition.terminal:
            ctx.send(STITCH_RENDITION, [job_id, rendition.profile],
                     queue=rendition.queue or QUEUE_CPU)
