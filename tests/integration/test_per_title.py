"""Per-title ladders on real workers: an easy title gets far fewer bits than the fixed ladder
and still meets its target; a hard one goes to its caps or loses rungs, and says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.jobs import Job
from common.pertitle import RATE_POINTS, LadderMode, misses
from common.settings import Settings
from common.states import JobState
from tests.support.files import job_dir
from tests.support.jobs import TEST_LADDER, submit, wait_for_job
from tests.support.media import GRAIN, STILL_PICTURE, ffprobe, make_clip
from tests.support.workers import WorkerProcess

CAPS = {p["name"]: p["video_bitrate_kbps"] for p in TEST_LADDER["profiles"]}
TARGET = 0.98


@pytest.fixture(scope="module")
def still_clip(media_dir: Path) -> Path:
    """8 s of one slowly drifting picture at 640x360: few bits reach any SSIM."""
    return make_clip(media_dir / "still.mp4", seconds=8, size="640x360",
                     video_filter=STILL_PICTURE)


@pytest.fixture(scope="module")
def grain_clip(media_dir: Path) -> Path:
    """8 s of heavy moving noise at 640x360: no rung's cap makes it clean."""
    return make_clip(media_dir / "grain.mp4", seconds=8, size="640x360", video_filter=GRAIN,
                     extra=["-crf", "12"])


def _video_kbps(settings: Settings, job: Job, profile: str) -> float:
    info = ffprobe(job_dir(settings, job.id) / f"{profile}.mp4")
    video = next(s for s in info["streams"] if s["codec_type"] == "video")
    return int(video["bit_rate"]) / 1000


def _says_why_if_short(job: Job) -> None:
    """Every rendition meets the target within the tolerance, or its record says why not."""
    assert job.per_title is not None
    for rendition in job.renditions:
        assert rendition.ssim is not None, rendition.profile
        if misses(rendition.ssim, TARGET, job.per_title.tolerance):
            assert rendition.quality_note, f"{rendition.profile} missed silently"


def test_an_easy_title_gets_far_fewer_bits_and_still_meets_its_target(
        gpu_settings: Settings, gpu_worker: WorkerProcess, still_clip: Path) -> None:
    fixed = wait_for_job(gpu_settings, submit(gpu_settings, still_clip).id, timeout=180)
    job = wait_for_job(gpu_settings, submit(gpu_settings, still_clip, target_ssim=TARGET,
                                            ladder=LadderMode.PER_TITLE).id, timeout=180)
    assert job.ladder == LadderMode.PER_TITLE and job.per_title is not None
    analysis = job.per_title
    assert analysis.target_ssim == TARGET and analysis.note is None
    assert analysis.encoder == "libx264" and analysis.windows and analysis.seconds > 0
    calibration = analysis.calibration  # the smallest rung, once more with its own preset
    assert calibration is not None and (calibration.profile, calibration.preset) == (
        "144p", "veryfast")
    for rung in analysis.rungs:
        assert len(rung.points) == len(RATE_POINTS) and rung.chosen_kbps <= rung.cap_kbps
        assert [p.kbps for p in rung.points] == sorted((p.kbps for p in rung.points),
                                                        reverse=True)
    fixed_bits = sum(_video_kbps(gpu_settings, fixed, r.profile) for r in fixed.renditions)
    title_bits = sum(_video_kbps(gpu_settings, job, r.profile) for r in job.renditions)
    assert title_bits < 0.5 * fixed_bits, (title_bits, fixed_bits)
    for rendition in job.renditions:
        assert rendition.ssim is not None and rendition.ssim >= TARGET - analysis.tolerance
        assert _video_kbps(gpu_settings, job, rendition.profile) < 0.6 * CAPS[rendition.profile]
    view = job.to_dict()["per_title"]
    kept = [r for r in view["rungs"] if not r["dropped"]]
    assert {r["profile"] for r in kept} == {r.profile for r in job.renditions}
    assert all(r["measured_ssim"] is not None and r["predicted_ssim"] for r in kept)
    for rung in [r for r in analysis.rungs if r.dropped]:
        assert rung.dropped and rung.profile not in {r.profile for r in job.renditions}


def test_a_hard_title_goes_to_its_caps_or_drops_rungs_and_says_so(
        gpu_settings: Settings, gpu_worker: WorkerProcess, grain_clip: Path) -> None:
    job = wait_for_job(gpu_settings, submit(gpu_settings, grain_clip, target_ssim=TARGET,
                                            ladder=LadderMode.PER_TITLE).id, timeout=180)
    assert job.per_title is not None and job.renditions
    for rung in job.per_title.rungs:
        assert rung.dropped or rung.chosen_kbps == rung.cap_kbps, rung
        if not rung.dropped:
            assert rung.note and "cap" in rung.note
    _says_why_if_short(job)
    for rendition in job.renditions:  # at the cap, never over it
        assert (rendition.target or {})["video_bitrate_kbps"] == CAPS[rendition.profile]


def test_a_chunked_per_title_job_is_stitched_at_the_chosen_rates(
        gpu_settings: Settings, gpu_worker: WorkerProcess, still_clip: Path) -> None:
    job = wait_for_job(gpu_settings, submit(gpu_settings, still_clip, chunk_seconds=4,
                                            target_ssim=TARGET,
                                            ladder=LadderMode.PER_TITLE).id, timeout=180)
    assert job.state == JobState.DONE and job.per_title is not None
    for rendition in job.renditions:
        rung = job.per_title.rung(rendition.profile)
        assert rung is not None and rendition.chunks == 2
        encoded_at = (rendition.target or {})["video_bitrate_kbps"]
        assert encoded_at == (rendition.reencoded_kbps or rung.chosen_kbps)
        if rendition.reencoded_kbps:  # a miss (slices restart their rate control): said so
            assert rendition.missed_ssim is not None and rendition.quality_note
            assert rung.chosen_kbps < encoded_at <= rung.cap_kbps
        info = ffprobe(job_dir(gpu_settings, job.id) / f"{rendition.profile}.mp4")
        assert abs(float(info["format"]["duration"]) - 8.0) < 0.1
    _says_why_if_short(job)
