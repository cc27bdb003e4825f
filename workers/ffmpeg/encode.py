"""Encode several outputs with one FFmpeg: try each codec in order, verify, publish atomically."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from common.codecs import family_of
from common.jobs import Fallback, SourceInfo
from common.ladder import RenditionPlan
from workers.ffmpeg.codec_strings import AudioFormat
from workers.ffmpeg.commands import (
    COPY,
    EncodeOptions,
    Window,
    build_ladder_command,
)
from workers.ffmpeg.outputs import check_audio_segments, verify_all
from workers.ffmpeg.process import ProgressCallback, TickCallback, run_ffmpeg
from workers.ffmpeg.progress import Progress

log = logging.getLogger(__name__)

AttemptCallback = Callable[[str, list[Fallback]], None]


class EncodeFailed(Exception):
    """Every codec failed; ``fallbacks`` says how each one did."""

    def __init__(self, message: str, fallbacks: list[Fallback]) -> None:
        super().__init__(message)
        self.fallbacks = fallbacks


class OutOfSpace(Exception):
    """The worker's disk filled up while writing: nothing about the job or the codec."""


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
    segments: Path | None = None
    """The HLS folder the encode itself filled (None: packaging is still to do)."""
    codecs: str | None = None
    """The RFC 6381 CODECS value its verification read (None: read it again to know)."""
    audio_segments: Path | None = None
    """The job's audio rendition, when this encode wrote it beside the video's segments."""
    audio: AudioFormat | None = None
    """The format of its AAC stream (the audio rendition's too), as its verification read."""
    ffmpeg_s: float | None = None
    """How long the FFmpeg that made it ran (the attempt that succeeded)."""

    @property
    def passthrough(self) -> bool:
        return self.codec == COPY


def codec_chain(plan: RenditionPlan, hardware: list[str], *, copy_only: bool = False) -> list[str]:
    """Return the encoders to try in order: copy if the source fits, then the hardware ones
    of the profile's codec, then that codec's software encoder (libx264, libx265, libsvtav1)."""
    if copy_only:
        return [COPY]
    family = family_of(plan.profile.codec)
    chain = [COPY] if plan.passthrough else []
    return [*chain, *(e for e in hardware if e in family.hardware), family.software]


DISK_CHECK_BYTES = 256 * 1024


def disk_full(directory: Path) -> bool:
    """Whether ``directory`` cannot take another quarter MiB (a real write, then removed).

    Asked after a failed encode: FFmpeg does not always exit non-zero, or say so, when a
    write fails, and a free-space figure can lie (reserved blocks, quotas).
    """
    probe = directory / f".space-check.{secrets.token_hex(4)}"
    try:
        with probe.open("wb") as handle:
            handle.write(b"\0" * DISK_CHECK_BYTES)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    finally:
        probe.unlink(missing_ok=True)
    return False


def temp_path(output: Path) -> Path:
    """Return a hidden temporary name beside ``output`` (never served, never reused)."""
    return output.with_name(f".{output.stem}.{secrets.token_hex(4)}.part{output.suffix}")


def _discard(path: Path) -> None:
    path.unlink(missing_ok=True)


def _put_in_place(staged: Path | None, final: Path | None) -> None:
    """Replace the HLS folder ``final`` with the one the encode filled (if it filled one)."""
    if staged is not None and final is not None:
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staged, final)


@dataclass(frozen=True)
class EncodeTarget:
    """One output of a (possibly fused) encode: what to make and where it goes."""

    plan: RenditionPlan
    output: Path
    segments: Path | None = None
    """The rendition's HLS folder: the encode writes its segments there too (no second pass)."""
    audio_segments: Path | None = None
    """The job's audio rendition's HLS folder, when this rendition carries it: the encode
    writes the segments of its AAC stream there too."""


GroupProgressCallback = Callable[[Progress, list[float | None]], None]
"""Receives the shared progress and each output's bitrate so far (kb/s, from its size)."""


def _output_bitrates(partials: list[Path], progress: Progress) -> list[float | None]:
    if not progress.out_time_s:
        return [None] * len(partials)
    rates: list[float | None] = []
    for partial in partials:
        try:
            rates.append(round(partial.stat().st_size * 8 / 1000 / progress.out_time_s, 1))
        except OSError:
            rates.append(None)
    return rates


def _staging_folders(targets: list[EncodeTarget], codec: str, window: Window | None,
                     has_audio: bool) -> tuple[list[Path | None], list[Path | None]]:
    """A fresh hidden folder beside each HLS folder the encode fills, and beside each audio
    rendition folder a target carries. None where the encode writes no segments: a stream
    copy or a slice (packaged after, from the finished file), or no audio to carry."""
    tee = codec != COPY and window is None
    made: list[Path] = []

    def staged(final: Path) -> Path:
        made.append(_staged(final))
        return made[-1]

    try:
        video = [staged(t.segments) if tee and t.segments else None for t in targets]
        audio = [staged(t.audio_segments) if folder and t.audio_segments and has_audio
                 else None for t, folder in zip(targets, video, strict=True)]
    except BaseException:  # one failed to be made (a full disk): none of them is left
        _remove_staging(made)
        raise
    return video, audio


def _remove_staging(folders: list[Path]) -> None:
    """Remove staging folders, and the hls/ folder above each when the attempt made it."""
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(OSError):
            folder.parent.rmdir()


def _staged(final: Path) -> Path:
    folder = final.with_name(f".{final.name}.{secrets.token_hex(4)}.tmp")
    _make_folder(folder, exist_ok=False)
    return folder


def _make_folder(folder: Path, *, exist_ok: bool) -> None:
    """Make ``folder`` (and its parents); a full disk is :class:`OutOfSpace`."""
    try:
        folder.mkdir(parents=True, exist_ok=exist_ok)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise OutOfSpace("The worker ran out of disk space before the encode "
                             "started.") from None
        raise


def encode_group(
    source_path: Path,
    source: SourceInfo,
    targets: list[EncodeTarget],
    codecs: list[str],
    *,
    options: EncodeOptions,
    ffprobe_bin: str = "ffprobe",
    nice: int = 0,
    on_progress: GroupProgressCallback | None = None,
    on_tick: TickCallback | None = None,
    on_attempt: AttemptCallback | None = None,
    timeout_s: float | None = None,
    window: Window | None = None,
) -> list[EncodeResult]:
    """Encode every target with one FFmpeg (one decode), trying each codec in turn.

    A failing codec (it will not open, it dies mid-encode, an output does not verify)
    is recorded as a :class:`Fallback` with FFmpeg's own error line and the next codec
    starts from the beginning. Outputs appear only complete and verified, all together.
    """
    for target in targets:
        _make_folder(target.output.parent, exist_ok=True)
    fallbacks: list[Fallback] = []
    for codec in codecs:
        if on_attempt is not None:
            on_attempt(codec, list(fallbacks))
        partials = [temp_path(t.output) for t in targets]
        staging, audio_staging = _staging_folders(targets, codec, window, source.has_audio)
        args = build_ladder_command(source_path, source, [t.plan for t in targets], codec,
                                    partials, options, window, staging, audio_staging)

        def report(progress: Progress, partials: list[Path] = partials) -> None:
            if on_progress is not None:
                on_progress(progress, _output_bitrates(partials, progress))

        try:
            started = time.monotonic()
            run = run_ffmpeg(args, on_progress=report, on_tick=on_tick, nice=nice,
                             timeout_s=timeout_s)
            ran_s = round(time.monotonic() - started, 3)
            if run.stopped:
                raise EncodeStopped("the encode was stopped")
            if not run.ok and (run.out_of_space or disk_full(partials[0].parent)):
                raise OutOfSpace("The worker ran out of disk space writing the output; what "
                                 "it wrote was removed.")
            if not run.ok and run.hit_pixel_limit:  # the source, not the codec: stop here
                raise EncodeFailed(
                    "A frame of the video is larger than this cluster accepts "
                    f"({options.max_pixels} pixels a frame), although its first frame is "
                    "not: the file was refused.", fallbacks)
            if not run.ok:
                fallbacks.append(Fallback(codec, run.error_line))
                log.warning("%s failed for %s: %s", codec, source_path.name, run.error_line)
                continue
            expected = source if window is None else replace(
                source, duration=window.duration_s, has_audio=False)
            try:
                facts = verify_all(partials, [t.plan for t in targets], expected, codec,
                                   ffprobe_bin, nice)
                for audio_folder in filter(None, audio_staging):
                    check_audio_segments(audio_folder, expected)
            except ValueError as exc:
                if disk_full(partials[0].parent):  # a write cut short: FFmpeg may exit 0
                    raise OutOfSpace("The worker ran out of disk space writing the output; "
                                     "what it wrote was removed.") from None
                fallbacks.append(Fallback(codec, f"{str(exc)[0].upper()}{str(exc)[1:]}."))
                continue
            for partial, folder, audio_folder, target in zip(partials, staging, audio_staging,
                                                             targets, strict=True):
                os.replace(partial, target.output)
                _put_in_place(folder, target.segments)
                _put_in_place(audio_folder, target.audio_segments)
        finally:
            for partial in partials:
                _discard(partial)
            _remove_staging([f for f in [*staging, *audio_staging] if f is not None])
        return [EncodeResult(codec, t.output, fact.width, fact.height, fact.duration_s,
                             t.output.stat().st_size, list(fallbacks),
                             t.segments if folder is not None else None, fact.codecs,
                             t.audio_segments if audio_folder is not None else None,
                             fact.audio, ran_s)
                for t, folder, audio_folder, fact
                in zip(targets, staging, audio_staging, facts, strict=True)]
    tried = ", ".join(f"{f.codec} ({f.error})" for f in fallbacks)
    raise EncodeFailed(f"Every encoder failed: {tried}.", fallbacks)


def encode_rendition(
    source_path: Path,
    source: SourceInfo,
    plan: RenditionPlan,
    output: Path,
    codecs: list[str],
    *,
    on_progress: ProgressCallback | None = None,
    **kwargs: Any,
) -> EncodeResult:
    """Encode one rendition (see :func:`encode_group` for the fallback and publish rules)."""

    def report(progress: Progress, _bitrates: list[float | None]) -> None:
        if on_progress is not None:
            on_progress(progress)

    [result] = encode_group(source_path, source, [EncodeTarget(plan, output)], codecs,
                            on_progress=report, **kwargs)
    return result
