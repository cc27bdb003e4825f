"""Poster thumbnails for finished jobs."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from workers.ffmpeg.commands import build_poster_command
from workers.ffmpeg.process import run_ffmpeg
from workers.ffmpeg.staging import private_name

log = logging.getLogger(__name__)

POSTER_TIMEOUT_S = 60


def make_poster(video: Path, poster: Path, duration_s: float, ffmpeg_bin: str,
                nice: int = 0) -> str | None:
    """Grab a frame a third of the way in (at most 5 s) as a JPEG; return its file name."""
    partial = poster.with_name(private_name(poster.name))
    at_s = min(5.0, max(0.0, duration_s / 3))
    run = run_ffmpeg(build_poster_command(video, partial, at_s, ffmpeg_bin), nice=nice,
                     timeout_s=POSTER_TIMEOUT_S)
    if not run.ok or not partial.is_file() or partial.stat().st_size == 0:
        log.warning("no poster for %s: %s", video, run.error_line)
        partial.unlink(missing_ok=True)
        return None
    os.replace(partial, poster)
    return poster.name
