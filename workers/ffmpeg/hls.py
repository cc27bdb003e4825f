"""HLS packaging: fMP4 segments per rendition and one master playlist per job."""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from workers.ffmpeg.commands import build_hls_command
from workers.ffmpeg.probe import run_ffprobe
from workers.ffmpeg.process import run_ffmpeg

log = logging.getLogger(__name__)

HLS_DIR = "hls"
MEDIA_PLAYLIST = "index.m3u8"
MASTER_PLAYLIST = "master.m3u8"
PACKAGE_TIMEOUT_S = 600
H264_PROFILE_IDC = {"Baseline": 0x42, "Constrained Baseline": 0x42, "Main": 0x4D,
                    "High": 0x64, "High 10": 0x6E}


class PackagingFailed(Exception):
    """Cutting a rendition into segments failed; the message has FFmpeg's error line."""


def package_rendition(video: Path, job_dir: Path, profile: str, segment_seconds: int,
                      ffmpeg_bin: str, nice: int = 0) -> str:
    """Cut ``video`` into ``hls/<profile>/``; return the media playlist's path in the job dir."""
    final = job_dir / HLS_DIR / profile
    staging = job_dir / HLS_DIR / f".{profile}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    run = run_ffmpeg(build_hls_command(video, staging / MEDIA_PLAYLIST, segment_seconds,
                                       ffmpeg_bin), nice=nice, timeout_s=PACKAGE_TIMEOUT_S)
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
    """Return the RFC 6381 CODECS value (``avc1.PPCCLL`` and ``mp4a.40.2`` for AAC-LC)."""
    streams = run_ffprobe(video, ffprobe_bin).get("streams", [])
    codecs = []
    for stream in streams:
        if stream.get("codec_name") == "h264":
            idc = H264_PROFILE_IDC.get(str(stream.get("profile")), 0x64)
            codecs.append(f"avc1.{idc:02x}00{int(stream.get('level') or 40):02x}")
        elif stream.get("codec_name") == "aac":
            codecs.append("mp4a.40.2")
    return ",".join(codecs)


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
