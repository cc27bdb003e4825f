"""Encode one rendition: try each codec in order, verify the file, then publish it atomically."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from common.jobs import Fallback, SourceInfo
from common.ladder import RenditionPlan
from workers.ffmpeg.commands import COPY, SOFTWARE_H264, EncodeOptions, build_encode_command
from workers.ffmpeg.probe import ProbeError, run_ffprobe
from workers.ffmpeg.process import ProgressCallback, TickCallback, run_ffmpeg

log = logging.getLogger(__name__)

DURATION_TOLERANCE_S = 0.5
AttemptCallback = Callable[[str, list[Fallback]], None]


class EncodeFailed(Exception):
    """Every codec failed; ``fallbacks`` says how each one did."""

    def __init__(self, message: str, fallbacks: list[Fallback]) -> None:
        super().__init__(message)
        self.fallbacks = fallbacks


class EncodeStopped(Exception):
    """The encode was stopped from outside (canceled, lease lost) and left no file."""


@dataclass
class EncodeResult:
    codec: str
    output: Path
    width: int
    height: int
    duration_s: float
    size_bytes: int
    fallbacks: list[Fallback] = field(default_factory=list)

    @property
    def passthrough(self) -> bool:
        return self.codec == COPY


def codec_chain(plan: RenditionPlan, hardware: list[str], *, copy_only: bool = False) -> list[str]:
    """Return the codecs to try in order: copy if the source fits, hardware, then libx264."""
    if copy_only:
        return [COPY]
    chain = [COPY] if plan.passthrough else []
    return [*chain, *hardware, SOFTWARE_H264]


def temp_path(output: Path) -> Path:
    """Return a hidden temporary name beside ``output`` (never served, never reused)."""
    return output.with_name(f".{output.stem}.{secrets.token_hex(4)}.part{output.suffix}")


def verify_output(path: Path, plan: RenditionPlan, source: SourceInfo, codec: str,
                  ffprobe_bin: str) -> tuple[int, int, float]:
    """Check the file is a whole H.264 rendition of the source; return (width, height, duration)."""
    try:
        data = run_ffprobe(path, ffprobe_bin)
    except ProbeError as exc:
        raise ValueError(f"the output cannot be read back: {exc}") from exc
    streams = data.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    has_audio = any(s.get("codec_type") == "audio" for s in streams)
    if video is None:
        raise ValueError("the output has no video stream")
    if codec != COPY and video.get("codec_name") != "h264":
        raise ValueError(f"the output's video is {video.get('codec_name')}, not h264")
    width, height = int(video["width"]), int(video["height"])
    if codec != COPY and (width, height) != (plan.width, plan.height):
        raise ValueError(f"the output is {width}x{height}, not {plan.width}x{plan.height}")
    if has_audio != source.has_audio:
        raise ValueError("the output's audio does not match the source's")
    duration = float(data.get("format", {}).get("duration") or 0.0)
    if source.duration and abs(duration - source.duration) > max(DURATION_TOLERANCE_S,
                                                                0.02 * source.duration):
        raise ValueError(f"the output lasts {duration:.2f}s, the source {source.duration:.2f}s")
    return width, height, duration


def _discard(path: Path) -> None:
    path.unlink(missing_ok=True)


def encode_rendition(
    source_path: Path,
    source: SourceInfo,
    plan: RenditionPlan,
    output: Path,
    codecs: list[str],
    *,
    options: EncodeOptions,
    ffprobe_bin: str = "ffprobe",
    nice: int = 0,
    on_progress: ProgressCallback | None = None,
    on_tick: TickCallback | None = None,
    on_attempt: AttemptCallback | None = None,
    timeout_s: float | None = None,
) -> EncodeResult:
    """Encode with each codec in turn until one gives a verified file, then rename it into place.

    A failing codec (it will not open, it dies mid-encode, its output does not verify)
    is recorded as a :class:`Fallback` with FFmpeg's own error line and the next codec
    starts from the beginning. ``output`` appears only complete and verified.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    fallbacks: list[Fallback] = []
    for codec in codecs:
        if on_attempt is not None:
            on_attempt(codec, list(fallbacks))
        partial = temp_path(output)
        args = build_encode_command(source_path, source, plan, codec, partial, options)
        try:
            run = run_ffmpeg(args, on_progress=on_progress, on_tick=on_tick, nice=nice,
                             timeout_s=timeout_s)
            if run.stopped:
                raise EncodeStopped("the encode was stopped")
            if not run.ok:
                fallbacks.append(Fallback(codec, run.error_line))
                log.warning("%s failed for %s: %s", codec, output.name, run.error_line)
                continue
            try:
                width, height, duration = verify_output(partial, plan, source, codec, ffprobe_bin)
            except ValueError as exc:
                fallbacks.append(Fallback(codec, f"The output failed verification: {exc}."))
                continue
            os.replace(partial, output)
        finally:
            _discard(partial)
        return EncodeResult(codec, output, width, height, duration, output.stat().st_size,
                            fallbacks)
    tried = ", ".join(f"{f.codec} ({f.error})" for f in fallbacks)
    raise EncodeFailed(f"Every encoder failed: {tried}.", fallbacks)
