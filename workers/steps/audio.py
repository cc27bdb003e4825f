"""The audio step of a split-and-stitch job planned as ``pending``: its audio, encoded once
by a task of its own while the slices run.

Jobs planned now encode their audio in parts inside their first slices (``in-slices``,
:mod:`workers.steps.chunks`), spread over the workers; this step finishes records planned
before that. One FFmpeg, one decode, one track per audio bitrate, stored under the job's
``.audio`` folder; each stitch copies it.
"""

from __future__ import annotations

import logging

from common.jobs import AudioTrack, Job
from common.storage import PublishAborted, StorageError, Workspace
from common.store import StaleUpdate
from common.workref import WorkRef
from workers.runtime.context import WorkerContext
from workers.runtime.lease import Lease
from workers.steps import layout, record
from workers.steps.audio_tracks import (
    AudioFailed,
    audio_bitrates,
    chunked_renditions,
    encode_tracks,
)
from workers.steps.chunks import stitch_when_ready
from workers.steps.finalize import finalize_when_complete
from workers.steps.leased import Outcome, run_leased_step

log = logging.getLogger(__name__)


def run_audio(ctx: WorkerContext, job_id: str, task_id: str | None) -> Outcome:
    """Encode the chunked job's audio tracks under their lease, then send any stitch that
    was waiting on them."""

    def then() -> None:
        stitch_when_ready(ctx, job_id)
        finalize_when_complete(ctx, job_id)

    encoded, outcome, _busy = run_leased_step(
        ctx, WorkRef.audio(job_id), task_id,
        lambda ws, lease: _encode_audio(ctx, ws, job_id, lease), then=then)
    return encoded or outcome


def _encode_audio(ctx: WorkerContext, ws: Workspace, job_id: str, lease: Lease) -> Outcome:
    job = _count_attempt(ctx, job_id, lease)
    if job.audio_attempts > ctx.settings.max_attempts:
        return _fail(ctx, job, lease, f"Gave up on the audio after {ctx.settings.max_attempts} "
                     "attempts (its worker stopped each time).")
    layout.check_job(job)
    try:
        tracks = encode_tracks(ctx, ws, job, {kbps: layout.audio_key(job.id, kbps)
                                              for kbps in audio_bitrates(job)})
    except AudioFailed as exc:
        return _fail(ctx, job, lease, str(exc))
    if tracks is None:
        return Outcome.STOPPED
    try:
        for key in tracks:
            ws.publish(key, lease.renew)
    except PublishAborted:
        return Outcome.STOPPED
    except StorageError as exc:
        return _fail(ctx, job, lease, f"The audio could not be stored: {exc}")

    def encoded(job: Job) -> None:
        if job.audio_track != AudioTrack.PENDING:
            raise StaleUpdate(job.audio_track)
        job.audio_track = AudioTrack.ENCODED

    ctx.store.update(job_id, encoded, fence=lease.fence)
    log.info("job %s: audio encoded while its slices run (%s)", job_id, ", ".join(tracks))
    return Outcome.DONE


def _count_attempt(ctx: WorkerContext, job_id: str, lease: Lease) -> Job:
    def count(job: Job) -> None:
        if job.terminal or job.audio_track != AudioTrack.PENDING:
            raise StaleUpdate(job.state)
        job.audio_attempts += 1

    return ctx.store.update(job_id, count, fence=lease.fence)


def _fail(ctx: WorkerContext, job: Job, lease: Lease, error: str) -> Outcome:
    """Fail every chunked rendition still open with ``error`` (none can be stitched)."""
    log.warning("job %s: %s", job.id, error)
    for rendition in chunked_renditions(job):
        try:
            job = ctx.store.update_rendition(job.id, rendition.profile, record.fail(error),
                                             fence=lease.fence)
        except StaleUpdate:
            continue
    ctx.notify_job(job)
    return Outcome.FAILED
