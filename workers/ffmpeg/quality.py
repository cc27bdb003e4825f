"""Quality of finished renditions against their source: FFmpeg's own SSIM and PSNR filters,
every rendition of a job in one FFmpeg that decodes the source once."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from workers.ffmpeg.probe import INPUT_GUARDS
from workers.ffmpeg.process import run_ffmpeg

log = logging.getLogger(__name__)

MEASURE_TIMEOUT_S = 3600
PSNR_CAP_DB = 100.0
_SCORE = re.compile(r"\[(ssim|psnr)@q(\d+) @ [^\]]+\] "
                    r"(?:SSIM .*All:([0-9.]+)|PSNR .*average:([0-9.]+|inf))")

Score = tuple[float, float]
"""SSIM and PSNR in dB."""


@dataclass(frozen=True)
class Measured:
    """A finished rendition to measure, at its own frame size."""

    path: Path
    width: int
    height: int


def quality_command(renditions: Sequence[Measured], source: Path, ffmpeg_bin: str,
                    max_pixels: int = 0) -> list[str]:
    """Return the argv that compares each rendition with the source scaled to its size: the
    source decoded once and split, one ``ssim@qN`` and ``psnr@qN`` pair per rendition N."""
    count = len(renditions)
    graph = [f"[{count}:v]split={count}" + "".join(f"[s{i}]" for i in range(count))]
    inputs: list[str] = []
    for i, rendition in enumerate(renditions):
        inputs += ["-protocol_whitelist", "file", "-i", f"file:{rendition.path}"]
        graph += [f"[s{i}]scale={rendition.width}:{rendition.height}:flags=bicubic,setsar=1,"
                  f"format=yuv420p,split[r{i}][t{i}]",
                  f"[{i}:v]format=yuv420p,split[e{i}][f{i}]",
                  f"[e{i}][r{i}]ssim@q{i}", f"[f{i}][t{i}]psnr@q{i}"]
    return [ffmpeg_bin, "-hide_banner", "-nostdin", "-loglevel", "info", *inputs,
            *INPUT_GUARDS, *(["-max_pixels", str(max_pixels)] if max_pixels else []),
            "-i", f"file:{source}", "-lavfi", ";".join(graph), "-f", "null", "-"]


def _scores(lines: list[str], count: int) -> list[Score | None]:
    found: dict[tuple[str, int], float] = {}
    for line in lines:
        match = _SCORE.search(line)
        if match:
            kind, index, ssim, psnr = match.groups()
            # Identical pictures have an infinite PSNR; JSON has no infinity: capped.
            found[(kind, int(index))] = float(ssim) if kind == "ssim" else min(
                float(psnr), PSNR_CAP_DB)
    return [(round(found[("ssim", i)], 5), round(found[("psnr", i)], 2))
            if ("ssim", i) in found and ("psnr", i) in found else None for i in range(count)]


def measure_qualities(renditions: Sequence[Measured], source: Path, ffmpeg_bin: str = "ffmpeg",
                      nice: int = 0, max_pixels: int = 0) -> list[Score | None]:
    """Return (SSIM, PSNR dB) of each rendition, in order, from one FFmpeg. When that FFmpeg
    fails (one rendition unreadable, say), each is measured alone, so the others keep their
    figures; None for a rendition FFmpeg could not compare."""
    if not renditions:
        return []
    run = run_ffmpeg(quality_command(renditions, source, ffmpeg_bin, max_pixels), nice=nice,
                     timeout_s=MEASURE_TIMEOUT_S)
    scores = _scores(run.stderr_lines, len(renditions)) if run.ok else [None] * len(renditions)
    if all(score is not None for score in scores):
        return scores
    names = ", ".join(r.path.name for r in renditions)
    reason = run.error_line if not run.ok else "FFmpeg printed no SSIM/PSNR summary"
    if len(renditions) == 1:
        log.warning("quality of %s not measured: %s", names, reason)
        return scores
    log.warning("quality of %s not measured together (%s); measuring each alone", names, reason)
    return [measure_qualities([rendition], source, ffmpeg_bin, nice, max_pixels)[0]
            for rendition in renditions]


def measure_quality(rendition: Path, source: Path, width: int, height: int,
                    ffmpeg_bin: str = "ffmpeg", nice: int = 0,
                    max_pixels: int = 0) -> Score | None:
    """Return (SSIM, PSNR dB) of one rendition, or None when FFmpeg could not compare them."""
    [score] = measure_qualities([Measured(rendition, width, height)], source, ffmpeg_bin, nice,
                                max_pixels)
    return score
