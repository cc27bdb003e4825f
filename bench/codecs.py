"""Per-codec speed, size and quality of one 1080p rung: x264, x265 and SVT-AV1 at their default
presets, the same rate control, each alone on the machine."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from common.codecs import FAMILIES, VideoCodec
from common.ladder import DEFAULT_LADDER, RenditionPlan
from workers.ffmpeg.commands import EncodeOptions, build_encode_command
from workers.ffmpeg.probe import probe_source
from workers.ffmpeg.process import run_ffmpeg
from workers.ffmpeg.quality import measure_quality

RUNG = DEFAULT_LADDER[0]  # 1080p at 5,000 kb/s
MAX_PIXELS = 8192 * 4352


def codec_rungs(source: Path, out_dir: Path, timeout_s: float) -> dict[str, Any]:
    """Encode the 1080p rung of ``source`` once per codec with its software encoder."""
    info = probe_source(source, ffprobe_bin="ffprobe", timeout_s=30, max_pixels=MAX_PIXELS)
    frames = round(info.duration * (info.fps or 25.0))
    rows: dict[str, Any] = {"source_s": info.duration, "frames": frames,
                            "bitrate_kbps": RUNG.video_bitrate_kbps, "codecs": {}}
    for codec, family in FAMILIES.items():
        rows["codecs"][codec.value] = _one(source, info, codec, out_dir, frames, timeout_s)
        rows["codecs"][codec.value]["encoder"] = family.software
    return rows


def _one(source: Path, info: Any, codec: VideoCodec, out_dir: Path, frames: int,
         timeout_s: float) -> dict[str, Any]:
    family = FAMILIES[codec]
    plan = RenditionPlan(replace(RUNG, codec=codec.value, preset=family.default_preset),
                         1920, 1080)
    output = out_dir / f"rung-{codec.value}.mp4"
    argv = build_encode_command(source, info, plan, family.software, output, EncodeOptions())
    started = time.perf_counter()
    run = run_ffmpeg(argv, timeout_s=timeout_s)
    wall = time.perf_counter() - started
    if not run.ok:
        return {"error": run.error_line, "preset": family.default_preset}
    size = output.stat().st_size
    quality = measure_quality(output, source, 1920, 1080, max_pixels=MAX_PIXELS)
    result = {
        "preset": family.default_preset, "wall_s": round(wall, 2),
        "fps": round(frames / wall, 2), "x_realtime": round(info.duration / wall, 3),
        "size_bytes": size, "kbps": round(size * 8 / 1000 / info.duration, 1),
        "ssim": quality[0] if quality else None, "psnr_db": quality[1] if quality else None,
    }
    os.unlink(output)
    return result
