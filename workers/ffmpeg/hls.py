"""HLS packaging: fMP4 segments per rendition and one master playlist per job."""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workers.ffmpeg.commands import MEDIA_PLAYLIST, build_hls_command
from workers.ffmpeg.probe import run_ffprobe
from workers.ffmpeg.process import run_ffmpeg

log = logging.getLogger(__name__)

HLS_DIR = "hls"
MASTER_PLAYLIST = "master.m3u8"
PACKAGE_TIMEOUT_S = 600
H264_PROFILE_IDC = {"Baseline": 0x42, "Constrained Baseline": 0x42, "Main": 0x4D,
                    "High": 0x64, "High 10": 0x6E}


class PackagingFailed(Exception):
    """Cutting a rendition into segments failed; the message has FFmpeg's error line."""


def package_rendition(video: Path, job_dir: Path, profile: str, segment_seconds: int,
                      ffmpeg_bin: str, nice: int = 0, video_tag: str | None = None) -> str:
    """Cut ``video`` into ``hls/<profile>/``; return the media playlist's path in the job dir."""
    final = job_dir / HLS_DIR / profile
    staging = job_dir / HLS_DIR / f".{profile}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    run = run_ffmpeg(build_hls_command(video, staging / MEDIA_PLAYLIST, segment_seconds,
                                       ffmpeg_bin, video_tag), nice=nice,
                     timeout_s=PACKAGE_TIMEOUT_S)
    if not run.ok:
        shutil.rmtree(staging, ignore_errors=True)
        raise PackagingFailed(f"HLS packaging failed: {run.error_line}")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(staging, final)
    return f"{HLS_DIR}/{profile}/{MEDIA_PLAYLIST}"


@dataclass(frozen=True)
class Variant:
    """One rendition's line in the master playlist."""

    playlist: str
    bandwidth: int
    average_bandwidth: int
    width: int
    height: int
    codecs: str
    frame_rate: float


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


def codecs_of(video: Path, ffprobe_bin: str) -> str:
    """Return the RFC 6381 CODECS value of a rendition's streams, read from the file:
    ``avc1.PPCCLL``, ``hvc1.<profile>.<compat>.<tier><level>.B0``, ``av01.0.<level>M.08``
    and ``mp4a.40.2`` for AAC-LC."""
    streams = run_ffprobe(video, ffprobe_bin).get("streams", [])
    return ",".join(c for c in (stream_codecs(s) for s in streams) if c)


def stream_codecs(stream: dict[str, Any]) -> str | None:
    """The RFC 6381 string of one ffprobe stream (None for a codec the player need not know)."""
    name, level = stream.get("codec_name"), int(stream.get("level") or 0)
    if name == "h264":
        idc = H264_PROFILE_IDC.get(str(stream.get("profile")), 0x64)
        return f"avc1.{idc:02x}00{level or 40:02x}"
    if name == "hevc":  # Main (idc 1, compatibility 6) or Main 10 (idc 2, compatibility 4)
        main10 = str(stream.get("profile")) == "Main 10"
        return f"hvc1.{2 if main10 else 1}.{4 if main10 else 6}.L{level or 93}.B0"
    if name == "av1":  # Main profile, seq_level_idx, main tier, 8-bit (what the ladder makes)
        return f"av01.0.{max(level, 0):02d}M.08"
    if name == "aac":
        return "mp4a.40.2"
    return None


def variant(job_dir: Path, playlist: str, video: Path, width: int, height: int,
            frame_rate: float, ffprobe_bin: str) -> Variant:
    """Measure a packaged rendition: peak and average bitrate from its real segments."""
    segments = media_segments(job_dir / playlist)
    rates = [path.stat().st_size * 8 / max(seconds, 0.001) for seconds, path in segments]
    total_bits = sum(path.stat().st_size * 8 for _, path in segments)
    total_seconds = sum(seconds for seconds, _ in segments) or 1.0
    return Variant(playlist, int(max(rates, default=0)), int(total_bits / total_seconds),
                   width, height, codecs_of(video, ffprobe_bin), frame_rate)


def write_master(job_dir: Path, variants: list[Variant]) -> str:
    """Write ``hls/master.m3u8`` (highest bandwidth first); return its path in the job dir."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for v in sorted(variants, key=lambda v: v.bandwidth, reverse=True):
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={v.bandwidth},AVERAGE-BANDWIDTH={v.average_bandwidth},"
            f'RESOLUTION={v.width}x{v.height},CODECS="{v.codecs}",FRAME-RATE={v.frame_rate:.3f}'
        )
        lines.append(v.playlist.removeprefix(f"{HLS_DIR}/"))
    master = job_dir / HLS_DIR / MASTER_PLAYLIST
    partial = master.with_name(f".{MASTER_PLAYLIST}.part")
    partial.write_text("\n".join(lines) + "\n")
    os.replace(partial, master)
    return f"{HLS_DIR}/{MASTER_PLAYLIST}"
