"""Per-title samples: encoded once, measured through a pipe while they are written; each
point's bitrate is its file's and its SSIM what the quality report would measure."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from common.ladder import load_ladder, plan_renditions
from common.pertitle import RATE_POINTS
from tests.support.jobs import write_test_ladder
from tests.support.media import ffprobe, make_clip, stream
from tests.support.workers import ffmpeg_children
from workers.ffmpeg.commands import EncodeOptions, Window
from workers.ffmpeg.probe import probe_source
from workers.ffmpeg.quality import measure_quality
from workers.ffmpeg.sampling import (
    Sample,
    SamplingFailed,
    analysis_preset,
    run_samples,
    sample_plan,
)

SECONDS = 2.0


@pytest.fixture(scope="module")
def clip(media_dir: Path) -> Path:
    return make_clip(media_dir / "sampled.mp4", seconds=SECONDS, size="640x360", audio=False)


def _samples(clip: Path, folder: Path) -> tuple[list[Sample], tuple[int, int]]:
    info = probe_source(clip, ffprobe_bin="ffprobe", timeout_s=30)
    plans = plan_renditions(info, load_ladder(write_test_ladder(folder / "ladder.json")))
    samples = [Sample(p.profile.name, sample_plan(p, rate, analysis_preset("h264")[1]),
                      folder / f"{p.profile.name}-{index}.mp4")
               for p in plans for index, rate in enumerate(RATE_POINTS)]
    top = max(plans, key=lambda p: p.height)
    return samples, (top.width, top.height)


def test_every_sample_is_measured_like_the_quality_report(clip: Path, tmp_path: Path) -> None:
    samples, display = _samples(clip, tmp_path)
    info = probe_source(clip, ffprobe_bin="ffprobe", timeout_s=30)
    points = run_samples(clip, info, samples, [Window(0.0, SECONDS)], display,
                         EncodeOptions(segment_seconds=2), timeout_s=120)
    assert len(points) == len(samples) == 6
    for sample, point in zip(samples, points, strict=True):
        assert point.kbps == pytest.approx(sample.output.stat().st_size * 8 / 1000 / SECONDS,
                                           abs=0.1)
        full = measure_quality(sample.output, clip, sample.plan.width, sample.plan.height)
        assert full is not None
        assert point.ssim == pytest.approx(full[0], abs=0.004), sample.output.name
    for high, low in zip(points[::2], points[1::2], strict=True):  # full rate, then 0.35
        assert high.kbps > low.kbps and high.ssim > low.ssim
    assert points[0].display_ssim == points[0].ssim  # the top rung is at display size
    assert points[2].display_ssim < points[2].ssim  # 240p scaled up loses detail
    assert ffmpeg_children() == []


def test_fast_samples_are_lean_and_the_calibration_is_encoded_as_the_rung(
        clip: Path, tmp_path: Path) -> None:
    samples, display = _samples(clip, tmp_path)
    fast = samples[0]
    own = Sample(fast.rung, sample_plan(fast.plan, 1.0, "medium"), tmp_path / "own.mp4",
                 calibration=True)
    info = probe_source(clip, ffprobe_bin="ffprobe", timeout_s=30)
    run_samples(clip, info, [fast, own], [Window(0.0, SECONDS)], display,
                EncodeOptions(segment_seconds=2), timeout_s=120)
    lean_video, own_video = (stream(ffprobe(s.output), "video") for s in (fast, own))
    assert lean_video is not None and own_video is not None
    assert lean_video["has_b_frames"] == 0  # no B-frames, so no frames held for them
    assert own_video["has_b_frames"] > 0  # medium's B-frames, as the rung will have them


def test_a_sample_that_cannot_be_encoded_says_so(clip: Path, tmp_path: Path) -> None:
    samples, display = _samples(clip, tmp_path)
    info = probe_source(clip, ffprobe_bin="ffprobe", timeout_s=30)
    first = samples[0]
    samples[0] = Sample(first.rung, replace(first.plan, profile=replace(
        first.plan.profile, preset="nosuchpreset")), first.output)
    with pytest.raises(SamplingFailed, match="the sample encodes failed"):
        run_samples(clip, info, samples, [Window(0.0, SECONDS)], display,
                    EncodeOptions(segment_seconds=2), timeout_s=120)
    assert ffmpeg_children() == []
