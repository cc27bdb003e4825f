"""The audio step of a split-and-stitch job: its audio, encoded once while the slices run.

Each stitch then copies the track instead of encoding it after the last slice (AAC is about
20 times real time here: 3 s of the tail of a 60 s job). One FFmpeg, one decode, one track
per audio bitrate the chunked renditions ask for, stored under the job's ``.audio`` folder.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from common.jobs import AudioTrack, Job, Rendition
from common.states import JobState
from common.storage import PublishAborted, StorageError, Workspace
from common.store import StaleUpdate
from common.workref import WorkRef
from workers.ffmpeg.commands import build_audio_command
from workers.ffmpeg.encode import temp_path
from workers.ffmpeg.probe import ProbeError, run_ffprobe
from workers.ffmpeg.process import run_ffmpeg
from workers.runtime.context import WorkerContext
from workers.runtime.lease import Lease
from workers.steps import layout, record
from workers.steps.chunks import stitch_when_ready
from workers.steps.finalize import finalize_when_complete
from workers.steps.leased import JobWatch, Outcome, run_leased_step

log = logging.getLogger(__name__)

DURATION_TOLERANCE_S = 0.1


class AudioFailed(Exception):
    """The track could not be made; the message is the sentence for the user."""


def audio_bitrates(job: Job) -> list[int]:
    """The audio bitrates (kb/s) of the job's chunked renditions: one track each."""
    return sorted({record.plan_of(r).profile.audio_bitrate_kbps for r in _chunked(job)})


def _chunked(job: Job) -> list[Rendition]:
    return [r for r in job.renditions if r.chunks and not r.terminal]


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
        tracks = _encode_tracks(ctx, ws, job, lease)
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


def _encode_tracks(ctx: WorkerContext, ws: Workspace, job: Job,
                   lease: Lease) -> list[str] | None:
    """Encode every track into the workspace; return their keys, or None when the job was
    canceled meanwhile."""
    settings, source = ctx.settings, job.source
    assert source is not None
    try:
        source_file = ws.fetch(layout.source_key(job))
    except StorageError as exc:
        raise AudioFailed(f"The source could not be read for its audio: {exc}") from exc
    keys = {kbps: layout.audio_key(job.id, kbps) for kbps in audio_bitrates(job)}
    finals = {kbps: ws.path(key) for kbps, key in keys.items()}
    partials = {kbps: temp_path(path) for kbps, path in finals.items()}
    for path in partials.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        run = run_ffmpeg(build_audio_command(source_file, partials, settings.ffmpeg_bin),
                         on_tick=JobWatch(ctx, job.id, JobState.ENCODING),
                         nice=settings.ffmpeg_nice, timeout_s=settings.task_time_limit_s)
        if run.stopped:
            return None
        if not run.ok:
            raise AudioFailed(f"The audio could not be encoded: {run.error_line}")
        for kbps, partial in partials.items():
            _verify(partial, source.duration, settings.ffprobe_bin, settings.ffmpeg_nice)
            os.replace(partial, finals[kbps])
    finally:
        for partial in partials.values():
            partial.unlink(missing_ok=True)
    return list(keys.values())


def _verify(path: Path, duration_s: float, ffprobe_bin: str, nice: int) -> None:
    try:
        data = run_ffprobe(path, ffprobe_bin, nice=nice)
    except ProbeError as exc:
        raise AudioFailed(f"The encoded audio cannot be read back: {exc}") from exc
    streams = data.get("streams", [])
    if [s.get("codec_name") for s in streams] != ["aac"]:
        raise AudioFailed("The encoded audio is not one AAC stream.")
    lasts = float(data.get("format", {}).get("duration") or 0.0)
    if duration_s and abs(lasts - duration_s) > max(DURATION_TOLERANCE_S, 0.02 * duration_s):
        raise AudioFailed(f"The encoded audio lasts {lasts:.2f}s, the source {duration_s:.2f}s.")


def _fail(ctx: WorkerContext, job: Job, lease: Lease, error: str) -> Outcome:
    """Fail every chunked rendition still open with ``error`` (none can be stitched)."""
    log.warning("job %s: %s", job.id, error)
    for rendition in _chunked(job):
        try:
            job = ctx.store.update_rendition(job.id, rendition.profile, record.fail(error),
                                             fence=lease.fence)
        except StaleUpdate:
            continue
    ctx.notify_job(job)
    return Outcome.FAILED
