"""HLS packaging: video-only CMAF segments per rendition, one audio rendition per job and
the master playlist that groups them."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common.jobs import AudioRendition
from common.ladder import AUDIO_RENDITION
from workers.ffmpeg.codec_strings import AudioFormat, audio_format, codecs_string
from workers.ffmpeg.commands import (
    INIT_SEGMENT,
    MEDIA_PLAYLIST,
    build_audio_hls_command,
    build_hls_command,
)
from workers.ffmpeg.probe import run_ffprobe
from workers.ffmpeg.process import run_ffmpeg
from workers.ffmpeg.staging import private_name

log = logging.getLogger(__name__)

HLS_DIR = "hls"
MASTER_PLAYLIST = "master.m3u8"
AUDIO_GROUP = "audio"
VIDEO_SAMPLE_ENTRIES = ("avc1", "hvc1", "hev1", "av01")
PACKAGE_TIMEOUT_S = 600


class PackagingFailed(Exception):
    """Cutting a rendition into segments failed; the message has FFmpeg's error line."""


def package_rendition(video: Path, job_dir: Path, profile: str, segment_seconds: int,
                      ffmpeg_bin: str, nice: int = 0, video_tag: str | None = None) -> str:
    """Cut the video of ``video`` into ``hls/<profile>/``; return the media playlist's path
    in the job dir."""
    return _package(job_dir, profile, nice, lambda playlist: build_hls_command(
        video, playlist, segment_seconds, ffmpeg_bin, video_tag))


def package_audio(video: Path, job_dir: Path, segment_seconds: int, ffmpeg_bin: str,
                  nice: int = 0) -> str:
    """Copy the audio of the finished rendition ``video`` into ``hls/audio/``: the job's
    one audio rendition (stream copy, no encode); return its playlist's path."""
    return _package(job_dir, AUDIO_RENDITION, nice, lambda playlist: build_audio_hls_command(
        video, playlist, segment_seconds, ffmpeg_bin))


def _package(job_dir: Path, folder: str, nice: int,
             command: Callable[[Path], list[str]]) -> str:
    """Run ``command`` into a staging folder and rename it into ``hls/<folder>/`` when done."""
    final = job_dir / HLS_DIR / folder
    staging = job_dir / HLS_DIR / private_name(folder)
    staging.mkdir(parents=True)
    run = run_ffmpeg(command(staging / MEDIA_PLAYLIST), nice=nice, timeout_s=PACKAGE_TIMEOUT_S)
    if not run.ok:
        shutil.rmtree(staging, ignore_errors=True)
        raise PackagingFailed(f"HLS packaging failed: {run.error_line}")
    shutil.rmtree(final, ignore_errors=True)
    try:
        os.replace(staging, final)
    except OSError:  # another copy of this step put the same files in place first
        shutil.rmtree(staging, ignore_errors=True)
        if not (final / MEDIA_PLAYLIST).is_file():
            raise
    return f"{HLS_DIR}/{folder}/{MEDIA_PLAYLIST}"


@dataclass(frozen=True)
class Variant:
    """One rendition's line in the master playlist (its rates are its video segments')."""

    playlist: str
    bandwidth: int
    average_bandwidth: int
    width: int
    height: int
    codecs: str
    frame_rate: float

    @property
    def video_codecs(self) -> str:
        """The video entry of ``codecs`` (``avc1.64001f,mp4a.40.2`` -> ``avc1.64001f``)."""
        return ",".join(c for c in self.codecs.split(",") if c.startswith(VIDEO_SAMPLE_ENTRIES))


def media_segments(playlist: Path) -> list[tuple[float, Path]]:
    """Return (duration, file) for every segment of a media playlist."""
    segments, duration = [], None
    for line in playlist.read_text().splitlines():
        if line.startswith("#EXTINF:"):
            duration = float(line[len("#EXTINF:"):].split(",")[0])
        elif line and not line.startswith("#") and duration is not None:
            segments.append((duration, playlist.parent / line))
            duration = None
    return segments


def codecs_of(video: Path, ffprobe_bin: str, nice: int = 0) -> str:
    """Return the RFC 6381 CODECS value of a rendition's streams, read from the file:
    ``avc1.PPCCLL``, ``hvc1.<profile>.<compat>.<tier><level>.B0``, ``av01.0.<level>M.<bits>``
    and ``mp4a.40.2`` for AAC-LC."""
    return codecs_string(run_ffprobe(video, ffprobe_bin, nice=nice).get("streams", []))


def _rates(playlist: Path) -> tuple[int, int]:
    """Peak and average bits per second over a media playlist's real segments."""
    segments = media_segments(playlist)
    rates = [path.stat().st_size * 8 / max(seconds, 0.001) for seconds, path in segments]
    total_bits = sum(path.stat().st_size * 8 for _, path in segments)
    total_seconds = sum(seconds for seconds, _ in segments) or 1.0
    return int(max(rates, default=0)), int(total_bits / total_seconds)


def variant(job_dir: Path, playlist: str, video: Path, width: int, height: int,
            frame_rate: float, ffprobe_bin: str, nice: int = 0,
            codecs: str | None = None) -> Variant:
    """Measure a packaged rendition: peak and average bitrate from its real segments; its
    CODECS value as given (read off the file when its verification did not)."""
    peak, average = _rates(job_dir / playlist)
    return Variant(playlist, peak, average, width, height,
                   codecs or codecs_of(video, ffprobe_bin, nice), frame_rate)


def audio_rendition(job_dir: Path, playlist: str, ffprobe_bin: str, nice: int = 0,
                    audio: AudioFormat | None = None) -> AudioRendition:
    """Measure the packaged audio rendition: rates from its segments; its format as given
    (read off its init segment when the encode that wrote it did not say)."""
    peak, average = _rates(job_dir / playlist)
    if audio is None:
        init = (job_dir / playlist).with_name(INIT_SEGMENT)
        streams = run_ffprobe(init, ffprobe_bin, nice=nice).get("streams", [])
        audio = audio_format(streams) or AudioFormat("mp4a.40.2", 48000, 2)
    return AudioRendition(playlist, peak, average, audio.codecs, audio.sample_rate,
                          audio.channels)


def _audio_line(audio: AudioRendition) -> str:
    return (f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{AUDIO_GROUP}",NAME="Main",DEFAULT=YES,'
            f'AUTOSELECT=YES,CHANNELS="{audio.channels}",'
            f'URI="{audio.playlist.removeprefix(f"{HLS_DIR}/")}"')


def _variant_line(v: Variant, audio: AudioRendition | None) -> str:
    """The STREAM-INF of a video rendition; with an audio group its rates include the audio."""
    peak, average = v.bandwidth, v.average_bandwidth
    codecs, group = v.codecs, ""
    if audio is not None:
        peak, average = peak + audio.bandwidth, average + audio.average_bandwidth
        codecs, group = f"{v.video_codecs},{audio.codecs}", f',AUDIO="{AUDIO_GROUP}"'
    return (f"#EXT-X-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={average},"
            f'RESOLUTION={v.width}x{v.height},CODECS="{codecs}",FRAME-RATE={v.frame_rate:.3f}'
            f"{group}")


def write_master(job_dir: Path, variants: list[Variant], audio: AudioRendition | None) -> str:
    """Write ``hls/master.m3u8`` (highest bandwidth first, the audio rendition as a group
    every variant names); return its path in the job dir."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    if audio is not None:
        lines.append(_audio_line(audio))
    for v in sorted(variants, key=lambda v: v.bandwidth, reverse=True):
        lines.append(_variant_line(v, audio))
        lines.append(v.playlist.removeprefix(f"{HLS_DIR}/"))
    master = job_dir / HLS_DIR / MASTER_PLAYLIST
    partial = master.with_name(private_name(MASTER_PLAYLIST))
    partial.write_text("\n".join(lines) + "\n")
    os.replace(partial, master)
    return f"{HLS_DIR}/{MASTER_PLAYLIST}"
