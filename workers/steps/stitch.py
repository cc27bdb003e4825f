"""The stitch step: join a chunked rendition and its audio track by stream copy, publish."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from common.codecs import family_of
from common.jobs import AudioTrack, Job, Rendition
from common.storage import StorageError, Workspace
from common.workref import WorkRef
from workers.ffmpeg.audio_parts import concat_lines, part_count
from workers.ffmpeg.commands import StitchAudio, build_stitch_command
from workers.ffmpeg.encode import EncodeResult, temp_path
from workers.ffmpeg.outputs import verify_output
from workers.ffmpeg.process import run_ffmpeg
from workers.runtime.context import WorkerContext
from workers.runtime.lease import Lease
from workers.steps import attempt, layout, record
from workers.steps.finalize import finalize_when_complete
from workers.steps.leased import Outcome, run_leased
from workers.steps.publish import publish

log = logging.getLogger(__name__)


def run_stitch(ctx: WorkerContext, job_id: str, profile: str, task_id: str | None) -> Outcome:
    """Stitch one rendition once all its chunks are encoded; at most one copy at a time."""

    def work(ws: Workspace, leases: dict[WorkRef, Lease]) -> Outcome:
        [lease] = leases.values()
        job = ctx.store.get(job_id)
        assert job is not None
        this = attempt.Attempt(job_id, [profile], {profile: lease}, ws, [])
        try:
            _stitch(ctx, job, job.rendition(profile), this, lease)
        except attempt.AttemptEnded as ended:
            return ended.outcome
        return Outcome.DONE

    outcome, _busy = run_leased(ctx, [WorkRef.stitch(job_id, profile)], task_id, work,
                                then=lambda: finalize_when_complete(ctx, job_id),
                                can_pass_on=False)  # short, and it writes little
    return outcome


def _stitch(ctx: WorkerContext, job: Job, rendition: Rendition, this: attempt.Attempt,
            lease: Lease) -> None:
    settings, source, ws = ctx.settings, job.source, this.ws
    assert source is not None
    plan = record.plan_of(rendition)
    try:
        chunk_files = [ws.fetch(layout.chunk_key(job.id, rendition.profile, index))
                       for index in range(rendition.chunks)]
        audio_file, audio_from = _audio_input(ws, job, rendition.profile,
                                              plan.profile.audio_bitrate_kbps)
    except StorageError as exc:
        attempt.fail(ctx, job.id, this, f"The chunks could not be gathered: {exc}")
    listing = chunk_files[0].parent / layout.CHUNK_LIST
    listing.write_text("\n".join(layout.chunk_list_lines(rendition.chunks)) + "\n")
    output = ws.path(layout.mp4_key(job.id, rendition.profile))
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = temp_path(output)
    try:
        run = run_ffmpeg(
            build_stitch_command(listing, audio_file, source, plan, partial,
                                 settings.ffmpeg_bin, audio_from=audio_from),
            on_tick=lease.renew, nice=settings.ffmpeg_nice,
        )
        if not run.ok:
            attempt.fail(ctx, job.id, this, f"Joining the chunks failed: {run.error_line}")
        try:
            verified = verify_output(
                partial, plan, source, family_of(plan.profile.codec).software,
                settings.ffprobe_bin, settings.ffmpeg_nice)
        except ValueError as exc:
            attempt.fail(ctx, job.id, this, f"The joined rendition failed verification: {exc}.")
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    result = EncodeResult(str(rendition.codec), output, verified.width, verified.height,
                          verified.duration_s, output.stat().st_size, list(rendition.fallbacks),
                          codecs=verified.codecs)
    publish(ctx, job, this, [result])
    try:
        ws.remove_tree(layout.chunks_key(job.id, rendition.profile))
    except StorageError as exc:  # the rendition is done; leftover chunks are only space
        log.warning("%s/%s: chunks not removed: %s", job.id, rendition.profile, exc)
    log.info("stitched %s/%s from %d chunks", job.id, rendition.profile, rendition.chunks)


def _audio_input(ws: Workspace, job: Job, profile: str,
                 kbps: int) -> tuple[Path | None, StitchAudio]:
    """What the stitch takes its audio from, and how (``build_stitch_command``'s
    ``audio_from``): the parts the first slices encoded, joined by an ffconcat list written
    beside them; the track encoded while the slices ran; or the source itself for records
    older than both (the source is fetched only then)."""
    source = job.source
    if source is None or not source.has_audio:
        return None, StitchAudio.SOURCE
    if job.audio_track == AudioTrack.IN_SLICES and source.audio_rate:
        parts = [ws.fetch(layout.audio_part_key(job.id, kbps, index))
                 for index in range(part_count(job.audio_cuts))]
        listing = parts[0].parent / layout.audio_list_name(profile, kbps)
        lines = concat_lines([p.name for p in parts], job.audio_cuts, source.audio_rate,
                             job.audio_lead_s)
        listing.write_text("\n".join(lines) + "\n")
        return listing, StitchAudio.PARTS
    if job.audio_track == AudioTrack.ENCODED:
        return ws.fetch(layout.audio_key(job.id, kbps)), StitchAudio.TRACK
    return ws.fetch(layout.source_key(job)), StitchAudio.SOURCE
