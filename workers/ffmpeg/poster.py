"""Poster thumbnails: from the source while a job encodes, or from a finished rendition."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from workers.ffmpeg.commands import build_poster_command
from workers.ffmpeg.process import BackgroundFFmpeg
from workers.ffmpeg.staging import private_name

log = logging.getLogger(__name__)

POSTER_TIMEOUT_S = 60


def poster_time(duration_s: float) -> float:
    """Where a poster is taken: a third of the way in, at most 5 s."""
    return min(5.0, max(0.0, duration_s / 3))


class Poster:
    """A poster made in the background while the caller packages the rest: its FFmpeg
    starts on ``with``; ``finish`` waits for it and puts the JPEG in place."""

    def __init__(self, video: Path, poster: Path, duration_s: float, ffmpeg_bin: str,
                 nice: int = 0, *, keyframes_only: bool = False, max_pixels: int = 0) -> None:
        self.video, self.poster = video, poster
        self.partial = poster.with_name(private_name(poster.name))
        self.at_s = poster_time(duration_s)
        self._ffmpeg = BackgroundFFmpeg(
            build_poster_command(video, self.partial, self.at_s, ffmpeg_bin,
                                 keyframes_only=keyframes_only, max_pixels=max_pixels),
            nice=nice)

    def __enter__(self) -> Poster:
        self._ffmpeg.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._ffmpeg.__exit__(*exc)
        self.partial.unlink(missing_ok=True)  # left only when finish was never reached

    def finish(self) -> str | None:
        """Wait for the frame; return the poster's file name, or None (logged) without one."""
        run = self._ffmpeg.wait(POSTER_TIMEOUT_S)
        if not run.ok:
            log.warning("no poster for %s: %s", self.video, run.error_line)
            return None
        if not self.partial.is_file() or self.partial.stat().st_size == 0:
            log.info("no poster for %s: no picture at or after %.1f s", self.video, self.at_s)
            return None
        os.replace(self.partial, self.poster)
        return self.poster.name
