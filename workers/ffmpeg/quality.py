"""Quality of a finished rendition against its source: FFmpeg's own SSIM and PSNR filters."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from workers.ffmpeg.probe import INPUT_GUARDS
from workers.ffmpeg.process import run_ffmpeg

log = logging.getLogger(__name__)

MEASURE_TIMEOUT_S = 3600
PSNR_CAP_DB = 100.0
_SSIM = re.compile(r"SSIM .*All:([0-9.]+)")
_PSNR = re.compile(r"PSNR .*average:([0-9.]+|inf)")


def quality_command(rendition: Path, source: Path, width: int, height: int,
                    ffmpeg_bin: str, max_pixels: int = 0) -> list[str]:
    """Return the argv that compares a rendition with the source scaled to its size."""
    graph = (f"[1:v]scale={width}:{height}:flags=bicubic,setsar=1,format=yuv420p,split[r0][r1];"
             "[0:v]format=yuv420p,split[e0][e1];[e0][r0]ssim;[e1][r1]psnr")
    return [ffmpeg_bin, "-hide_banner", "-nostdin", "-loglevel", "info",
            "-protocol_whitelist", "file", "-i", f"file:{rendition}",
            *INPUT_GUARDS, *(["-max_pixels", str(max_pixels)] if max_pixels else []),
            "-i", f"file:{source}",
            "-lavfi", graph, "-f", "null", "-"]


def measure_quality(rendition: Path, source: Path, width: int, height: int,
                    ffmpeg_bin: str = "ffmpeg", nice: int = 0,
                    max_pixels: int = 0) -> tuple[float, float] | None:
    """Return (SSIM, PSNR dB) of the rendition, or None when FFmpeg could not compare them."""
    run = run_ffmpeg(quality_command(rendition, source, width, height, ffmpeg_bin, max_pixels),
                     nice=nice,
                     timeout_s=MEASURE_TIMEOUT_S)
    if not run.ok:
        log.warning("quality of %s not measured: %s", rendition.name, run.error_line)
        return None
    text = "\n".join(run.stderr_lines)
    ssim, psnr = _SSIM.search(text), _PSNR.search(text)
    if ssim is None or psnr is None:
        log.warning("quality of %s: FFmpeg printed no SSIM/PSNR summary", rendition.name)
        return None
    # Identical pictures have an infinite PSNR; JSON has no infinity, so it is capped.
    return round(float(ssim.group(1)), 5), round(min(float(psnr.group(1)), PSNR_CAP_DB), 2)
