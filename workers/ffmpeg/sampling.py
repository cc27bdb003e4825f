"""Per-title sampling: stretches of the source encoded per rung at a few rates with a fast
preset (one FFmpeg, one decode), measured with SSIM by a second FFmpeg that reads them
through a pipe while they are encoded."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ffmpeg

from common.codecs import family_of
from common.jobs import SourceInfo
from common.ladder import RenditionPlan
from common.pertitle import RatePoint
from workers.ffmpeg.commands import EncodeOptions, Window, video_args, video_stream
from workers.ffmpeg.piped import run_piped
from workers.ffmpeg.probe import DEMUXER_WHITELIST, INPUT_GUARDS, PROTOCOL_WHITELIST
from workers.ffmpeg.process import TickCallback

log = logging.getLogger(__name__)

ANALYSIS_PRESETS = {"libx264": "superfast", "libx265": "ultrafast", "libsvtav1": "12"}
"""The software encoder's preset for samples: several times faster than the rungs' own, and
near them in how quality grows with bits (the finished renditions are measured anyway)."""
LEAN_SAMPLE_ARGS = {"libx264": ("x264-params", "bframes=0:sync-lookahead=0")}
"""Added to the fast samples' encoder options: no B-frames and no frames buffered ahead of
the encoding threads, so each 1080p sample holds a few frames instead of about fifteen
(the sample encodes used 700 MB, and first-touch page faults were a third of their
time). The calibration sample, at the rung's own settings, measures what this costs."""
SAMPLE_FRACTION = 0.1
"""The share of the source the samples cover, in whole segments (at least one)."""
MIN_SAMPLE_S = 2.0
MOST_WINDOWS = 6
MEASURE_EVERY = 5
"""Samples are compared on every fifth frame: the same frames on both sides, a fifth of
the scaling and SSIM work."""
_SSIM = re.compile(r"\[ssim@([od])(\d+) @ [^\]]+\] SSIM .*All:([0-9.]+)")


class SamplingFailed(Exception):
    """A sample encode or its measurement did not complete; the message says why."""


class SamplingStopped(SamplingFailed):
    """The tick said stop (the job was canceled): nothing to report."""


@dataclass(frozen=True)
class Sample:
    """One sample encode: a rung at one rate, and where its file goes."""

    rung: str
    plan: RenditionPlan
    output: Path
    calibration: bool = False
    """The calibration sample: encoded with the rung's own settings (not
    :data:`LEAN_SAMPLE_ARGS`) and measured at its own size only, not also scaled up to the
    ladder's top size."""


def ideal_starts(duration_s: float, segment_s: int) -> tuple[list[float], float]:
    """Where samples would start, spread evenly, and how long each lasts: about a tenth of
    the source in all (at least two seconds), in stretches of at most one segment."""
    total = min(duration_s, max(MIN_SAMPLE_S, duration_s * SAMPLE_FRACTION))
    length = min(float(segment_s), total)
    count = max(1, min(MOST_WINDOWS, round(total / length)))
    return [duration_s * (i + 0.5) / count - length / 2 for i in range(count)], length


def sample_windows(duration_s: float, length_s: float, keyframes: list[float]) -> list[Window]:
    """Windows that start on source keyframes (no decode before a sample's first frame),
    each ``length_s`` long or up to the end, none twice."""
    starts = sorted({k for k in keyframes if 0 <= k < duration_s} or {0.0})
    return [Window(start, min(length_s, duration_s - start)) for start in starts]


def sample_plan(plan: RenditionPlan, rate: float, preset: str) -> RenditionPlan:
    """The rung's plan at ``rate`` times its profile's bitrate, buffer and peak scaled alike."""
    profile = plan.profile
    sampled = replace(profile, video_bitrate_kbps=max(16, round(profile.video_bitrate_kbps * rate)),
                      maxrate_kbps=max(16, round(profile.maxrate_kbps * rate)),
                      bufsize_kbps=max(16, round(profile.bufsize_kbps * rate)), preset=preset,
                      crf=None)  # per-title rungs are rate-controlled at the chosen bitrate
    return replace(plan, profile=sampled, passthrough=False)


def analysis_preset(codec: str) -> tuple[str, str]:
    """The software encoder of a rung's codec and the fast preset samples use."""
    encoder = family_of(codec).software
    return encoder, ANALYSIS_PRESETS[encoder]


def _window_inputs(source_path: Path, windows: list[Window], max_pixels: int) -> list[object]:
    extra = {"max_pixels": max_pixels} if max_pixels else {}
    return [ffmpeg.input(f"file:{source_path}", ss=f"{w.start_s:.6f}", t=f"{w.duration_s:.6f}",
                         protocol_whitelist=PROTOCOL_WHITELIST, format_whitelist=DEMUXER_WHITELIST,
                         **extra) for w in windows]


def _per_stream(args: dict[str, Any], index: int) -> dict[str, Any]:
    """An output's encoder options for its ``index``-th video stream only (``-b:v:2``)."""
    return {(f"{key}:{index}" if key.endswith(":v") else f"{key}:v:{index}"): value
            for key, value in args.items()}


def _sample_args(source: SourceInfo, sample: Sample, encoder: str,
                 options: EncodeOptions) -> dict[str, Any]:
    args = video_args(source, sample.plan, encoder, options)
    if not sample.calibration and encoder in LEAN_SAMPLE_ARGS:
        key, value = LEAN_SAMPLE_ARGS[encoder]
        args[key] = f"{args[key]}:{value}" if key in args else value
    return args


def _sample_tee(samples: list[Sample]) -> str:
    """Each sample's MP4 (its size is its bitrate), and all of them as one NUT stream on
    stdout for the measuring FFmpeg."""
    files = [f"[f=mp4:select={index}]{sample.output}" for index, sample in enumerate(samples)]
    return "|".join([*files, "[f=nut]pipe:1"])


def build_sample_command(source_path: Path, source: SourceInfo, samples: list[Sample],
                         windows: list[Window], options: EncodeOptions) -> list[str]:
    """One FFmpeg: the windows joined, scaled once per rung, split once per rate, encoded;
    stream ``i`` of its one output is sample ``i``."""

    def kind(sample: Sample) -> tuple[int, int, str]:
        return sample.plan.width, sample.plan.height, sample.plan.profile.codec

    inputs = _window_inputs(source_path, windows, options.max_pixels)
    joined = (ffmpeg.concat(*(i["v:0"] for i in inputs), v=1, a=0) if len(inputs) > 1
              else inputs[0]["v:0"]).filter("setpts", "PTS-STARTPTS")
    sizes = list(dict.fromkeys(kind(x) for x in samples))
    per_size = joined.filter_multi_output("split", len(sizes)) if len(sizes) > 1 else None
    streams: dict[int, Any] = {}
    out_args: dict[str, Any] = {}
    for index, size in enumerate(sizes):
        group = [i for i, x in enumerate(samples) if kind(x) == size]
        encoder = family_of(samples[group[0]].plan.profile.codec).software
        stream = per_size.stream(index) if per_size is not None else joined
        scaled = video_stream(stream, source, samples[group[0]].plan, encoder)  # once a rung
        branches = scaled.filter_multi_output("split", len(group))
        for offset, position in enumerate(group):
            streams[position] = branches.stream(offset)
            out_args.update(_per_stream(_sample_args(source, samples[position], encoder,
                                                     options), position))
    # The tee muxer cannot ask the encoders for global headers on its muxers' behalf.
    output = ffmpeg.output(*(streams[i] for i in range(len(samples))), _sample_tee(samples),
                           an=None, f="tee", map_metadata=-1, flags="+global_header",
                           **out_args)
    return (output.global_args("-hide_banner", "-nostdin", "-loglevel", "error")
            .overwrite_output().compile(cmd=options.ffmpeg_bin))


def build_measure_command(source_path: Path, samples: list[Sample], windows: list[Window],
                          display: tuple[int, int], ffmpeg_bin: str,
                          max_pixels: int = 0) -> list[str]:
    """One FFmpeg reading the sample encoder's NUT stream on stdin as it is written: every
    sample against the same source frames scaled to its size (``o``) and, scaled up,
    against the source at the ladder's top size (``d``, for the samples of smaller rungs)."""
    args = [ffmpeg_bin, "-hide_banner", "-loglevel", "info",
            "-protocol_whitelist", "pipe", "-f", "nut", "-i", "pipe:0"]
    for window in windows:
        args += [*INPUT_GUARDS, *(["-max_pixels", str(max_pixels)] if max_pixels else []),
                 "-ss", f"{window.start_s:.6f}", "-t", f"{window.duration_s:.6f}",
                 "-i", f"file:{source_path}"]
    joined = "".join(f"[{1 + i}:v]" for i in range(len(windows)))
    joined += f"concat=n={len(windows)}:v=1:a=0," if len(windows) > 1 else "null,"
    width, height = display
    scaled_up = [i for i, x in enumerate(samples)
                 if not x.calibration and (x.plan.width, x.plan.height) != display]
    count = len(samples) + len(scaled_up)
    pick = f"select='not(mod(n\\,{MEASURE_EVERY}))',setpts=PTS-STARTPTS"
    graph = [f"{joined}setpts=PTS-STARTPTS,{pick},format=yuv420p,split={count}"
             + "".join(f"[ref{i}]" for i in range(count))]
    for i, sample in enumerate(samples):
        w, h = sample.plan.width, sample.plan.height
        up = i in scaled_up
        graph += [f"[0:v:{i}]setpts=PTS-STARTPTS,{pick},format=yuv420p"
                  + (f",split=2[e{i}][u{i}]" if up else f"[e{i}]"),
                  f"[ref{i}]scale={w}:{h}:flags=bicubic,setsar=1[ro{i}]",
                  f"[e{i}][ro{i}]ssim@o{i}"]
        if up:
            ref = len(samples) + scaled_up.index(i)
            graph += [f"[ref{ref}]scale={width}:{height}:flags=bicubic,setsar=1[rd{i}]",
                      f"[u{i}]scale={width}:{height}:flags=bicubic,setsar=1[ud{i}]",
                      f"[ud{i}][rd{i}]ssim@d{i}"]
    return [*args, "-filter_complex", ";".join(graph), "-f", "null", "-"]


def _bitrate_kbps(path: Path, seconds: float) -> float:
    return round(path.stat().st_size * 8 / 1000 / max(seconds, 1e-3), 1)


def run_samples(source_path: Path, source: SourceInfo, samples: list[Sample],
                windows: list[Window], display: tuple[int, int], options: EncodeOptions,
                *, nice: int = 0, on_tick: TickCallback | None = None,
                timeout_s: float | None = None) -> list[RatePoint]:
    """Encode and measure every sample; return one point per sample, in order."""
    for sample in samples:
        sample.output.parent.mkdir(parents=True, exist_ok=True)
    runs = run_piped(build_sample_command(source_path, source, samples, windows, options),
                     build_measure_command(source_path, samples, windows, display,
                                           options.ffmpeg_bin, options.max_pixels),
                     nice=nice, on_tick=on_tick, timeout_s=timeout_s)
    if runs.stopped:
        raise SamplingStopped("the analysis was stopped")
    if runs.failed_first is runs.consumer or (runs.producer.ok and not runs.consumer.ok):
        raise SamplingFailed(f"measuring the samples failed: {runs.consumer.error_line}")
    if not runs.producer.ok:  # failed first; the measure was killed after it
        raise SamplingFailed(f"the sample encodes failed: {runs.producer.error_line}")
    measure = runs.consumer
    scores: dict[tuple[str, int], float] = {}
    for line in measure.stderr_lines:
        for kind, index, value in _SSIM.findall(line):
            scores[(kind, int(index))] = float(value)
    seconds = sum(w.duration_s for w in windows)
    points = []
    for index, sample in enumerate(samples):
        if ("o", index) not in scores:
            raise SamplingFailed(f"FFmpeg printed no SSIM for the {sample.rung} samples")
        points.append(RatePoint(_bitrate_kbps(sample.output, seconds),
                                round(scores[("o", index)], 5),
                                round(scores.get(("d", index), scores[("o", index)]), 5)))
    return points
