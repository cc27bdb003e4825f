"""Sources the benchmark encodes (generated once, cached) and the hand-written FFmpeg baseline."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from common.ladder import load_ladder, plan_renditions
from tests.support.media import STILL_PICTURE, make_clip
from workers.ffmpeg.commands import (
    PROGRESS_ARGS,
    SOFTWARE_H264,
    EncodeOptions,
    build_ladder_command,
)
from workers.ffmpeg.probe import probe_source

CACHE_DIR = Path("/tmp/ffcluster-bench-cache")


@dataclass(frozen=True)
class SourceSpec:
    """A generated testsrc2 + sine clip; ``codec`` mpeg4 keeps a rung from being a copy."""

    seconds: float
    size: str
    rate: int
    codec: str = "libx264"
    crf: int = 18
    still: bool = False
    """testsrc2's first frame drifting slowly (an easy title) instead of its moving pattern."""

    @property
    def name(self) -> str:
        kind = "-still" if self.still else ""
        return (f"src-{self.size}-{self.rate}fps-{self.seconds:g}s-{self.codec}-crf{self.crf}"
                f"{kind}.mp4")


def ensure_source(spec: SourceSpec, cache_dir: Path = CACHE_DIR) -> Path:
    """Return the cached clip for ``spec``, generating it the first time."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / spec.name
    if not path.exists():
        partial = path.with_name(f".{path.name}.part.mp4")
        extra = ["-crf", str(spec.crf)] if spec.codec == "libx264" else ["-q:v", "3"]
        make_clip(partial, seconds=spec.seconds, size=spec.size, rate=spec.rate,
                  codec=spec.codec, extra=extra,
                  video_filter=STILL_PICTURE if spec.still else None)
        partial.replace(path)
    return path


def direct_ladder_argv(source: Path, out_dir: Path, x264_threads: int = 0) -> list[str]:
    """Return the best single FFmpeg for the default ladder: one decode, split, N encodes.

    It is the cluster's own ``build_ladder_command`` (same settings, libx264) without the
    progress pipe, so the comparison is FFmpeg by hand against the cluster around it.
    """
    info = probe_source(source, ffprobe_bin="ffprobe", timeout_s=30, max_pixels=8192 * 4352)
    plans = plan_renditions(info, load_ladder(None))
    if any(plan.passthrough for plan in plans):
        raise RuntimeError(f"{source} would be stream-copied by a rung; generate it differently.")
    outputs = [out_dir / f"{plan.profile.name}.mp4" for plan in plans]
    argv = build_ladder_command(source, info, plans, SOFTWARE_H264, outputs,
                                EncodeOptions(x264_threads=x264_threads))
    drop: set[int] = set()
    for index in range(len(argv) - len(PROGRESS_ARGS) + 1):
        if tuple(argv[index:index + len(PROGRESS_ARGS)]) == PROGRESS_ARGS:
            drop = set(range(index, index + len(PROGRESS_ARGS)))
            break
    return [arg for index, arg in enumerate(argv) if index not in drop]


def run_direct(argv: list[str]) -> float:
    """Run the baseline FFmpeg and return its wall time in seconds."""
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, capture_output=True)
    return time.perf_counter() - started
