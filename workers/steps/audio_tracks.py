"""A chunked job's AAC tracks: one per audio bitrate of its renditions, with one decode.

Encoded whole by the audio step (records planned before audio parts), or in parts by the
first slices of the job (``in-slices``); either way verified before they are stored.
"""

from __future__ import annotations

import os
from pathlib import Path

from common.jobs import Job, Rendition
from common.states import JobState
from common.storage import StorageError, Workspace
from workers.ffmpeg.commands import AudioWindow, build_audio_command
from workers.ffmpeg.encode import temp_path
from workers.ffmpeg.probe import ProbeError, run_ffprobe
from workers.ffmpeg.process import run_ffmpeg
from workers.runtime.context import WorkerContext
from workers.steps import layout, record
from workers.steps.leased import JobWatch

DURATION_TOLERANCE_S = 0.1


class AudioFailed(Exception):
    """The track could not be made; the message is the sentence for the user."""


def chunked_renditions(job: Job) -> list[Rendition]:
    return [r for r in job.renditions if r.chunks and not r.terminal]


def audio_bitrates(job: Job) -> list[int]:
    """The audio bitrates (kb/s) of the job's chunked renditions: one track each."""
    return sorted({record.plan_of(r).profile.audio_bitrate_kbps
                   for r in chunked_renditions(job)})


def encode_tracks(ctx: WorkerContext, ws: Workspace, job: Job, keys: dict[int, str],
                  window: AudioWindow | None = None) -> list[str] | None:
    """Encode the track of each bitrate (kb/s to key) into the workspace, the whole audio or
    its ``window``; return the keys, or None when the job was canceled meanwhile."""
    settings, source = ctx.settings, job.source
    assert source is not None
    try:
        source_file = ws.fetch(layout.source_key(job))
    except StorageError as exc:
        raise AudioFailed(f"The source could not be read for its audio: {exc}") from exc
    finals = {kbps: ws.path(key) for kbps, key in keys.items()}
    partials = {kbps: temp_path(path) for kbps, path in finals.items()}
    for path in partials.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    expected = source.audio_duration or source.duration  # sound may end before the picture
    if window is not None:
        expected = window.duration_s or max(0.0, expected - window.start_s)
    try:
        run = run_ffmpeg(build_audio_command(source_file, partials, settings.ffmpeg_bin, window),
                         on_tick=JobWatch(ctx, job.id, JobState.ENCODING),
                         nice=settings.ffmpeg_nice, timeout_s=settings.task_time_limit_s)
        if run.stopped:
            return None
        if not run.ok:
            raise AudioFailed(f"The audio could not be encoded: {run.error_line}")
        for kbps, partial in partials.items():
            _verify(partial, expected, settings.ffprobe_bin, settings.ffmpeg_nice)
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
