"""The per-title arithmetic: fits, the chosen rate, the hull and the correction of a miss."""

from __future__ import annotations

import math

import pytest

from common.jobs import Job
from common.pertitle import (
    EXTRAPOLATE_BELOW,
    Calibration,
    Fit,
    LadderMode,
    PerTitle,
    RatePoint,
    RungAnalysis,
    choose_ladder,
    choose_rate,
    corrected_kbps,
    misses,
    ssim_db,
    ssim_of_db,
)


def _curve(intercept: float, slope: float, kbps: float) -> float:
    return ssim_of_db(intercept + slope * math.log(kbps))


def _rung(name: str, height: int, cap: int, intercept: float, slope: float,
          display_shift_db: float = 0.0) -> RungAnalysis:
    points = [RatePoint(cap * f, _curve(intercept, slope, cap * f),
                        _curve(intercept - display_shift_db, slope, cap * f))
              for f in (1.0, 0.5, 0.25)]
    return RungAnalysis(name, height, cap, points)


def test_the_fit_recovers_a_log_linear_curve_and_inverts_it() -> None:
    fit = Fit.of([(kbps, _curve(-10.0, 4.0, kbps)) for kbps in (400, 800, 1600)])
    assert fit.slope == pytest.approx(4.0, abs=1e-6)
    assert fit.kbps_for(fit.ssim_at(1000)) == pytest.approx(1000, rel=1e-6)
    assert ssim_db(ssim_of_db(17.0)) == pytest.approx(17.0)


def test_a_rung_gets_the_lowest_rate_that_reaches_the_target() -> None:
    rung = _rung("720p", 720, 2800, -12.0, 4.0)
    choose_rate(rung, 0.98)
    assert rung.chosen_kbps < 2800 and rung.note is None
    assert rung.predicted_ssim == pytest.approx(0.98, abs=1e-4)


def test_a_rung_that_cannot_reach_the_target_stays_at_its_cap_and_says_so() -> None:
    rung = _rung("1080p", 1080, 5000, -20.0, 4.0)  # ~0.93 at the cap
    choose_rate(rung, 0.98)
    assert rung.chosen_kbps == 5000 and rung.note and "cap" in rung.note


def test_an_easy_rung_is_not_extrapolated_far_below_its_samples() -> None:
    rung = _rung("480p", 480, 1400, 10.0, 4.0)  # already 0.9999 at a quarter of the cap
    choose_rate(rung, 0.98)
    assert rung.chosen_kbps == round(1400 * 0.25 * EXTRAPOLATE_BELOW)


def test_a_rung_no_sharper_than_the_one_below_it_is_dropped_with_a_reason() -> None:
    per_title = PerTitle(0.98, 0.003, rungs=[
        _rung("1080p", 1080, 5000, -12.0, 4.0, display_shift_db=0.0),
        _rung("720p", 720, 2800, -10.0, 4.0, display_shift_db=2.9),  # hardly sharper
        _rung("480p", 480, 1400, -8.0, 4.0, display_shift_db=3.0),
    ])
    choose_ladder(per_title)
    dropped = {r.profile: r.dropped for r in per_title.rungs if r.dropped}
    assert set(dropped) == {"720p"} and "no better than 480p" in str(dropped["720p"])
    assert [r.profile for r in per_title.kept] == ["1080p", "480p"]


def test_a_lower_rung_that_needs_more_bits_than_a_bigger_one_is_dropped() -> None:
    per_title = PerTitle(0.98, 0.003, rungs=[
        _rung("720p", 720, 2800, -6.0, 4.0, display_shift_db=0.0),   # easy at 720p
        _rung("480p", 480, 2800, -12.0, 4.0, display_shift_db=4.0),  # hard at 480p (odd)
    ])
    choose_ladder(per_title)
    assert per_title.rung("480p").dropped and not per_title.rung("720p").dropped  # type: ignore


def test_a_miss_is_corrected_upwards_within_the_cap_and_not_at_the_cap() -> None:
    rung = _rung("720p", 720, 2800, -12.0, 4.0)
    choose_rate(rung, 0.98)
    assert misses(0.975, 0.98, 0.003) and not misses(0.978, 0.98, 0.003)
    again = corrected_kbps(rung, 0.975, 0.98, rung.chosen_kbps)
    assert again is not None and rung.chosen_kbps < again <= 2800
    assert corrected_kbps(rung, 0.9, 0.98, 2800) is None


def test_the_analysis_survives_the_record_and_the_job_json_shows_what_was_measured() -> None:
    per_title = choose_ladder(PerTitle(0.98, 0.003, encoder="libx264", rungs=[
        _rung("720p", 720, 2800, -12.0, 4.0)]))
    job = Job.new("a.mp4", "a.mp4", ladder=LadderMode.PER_TITLE, per_title=per_title)
    again = Job.from_dict(job.to_dict())
    assert again.ladder == LadderMode.PER_TITLE and again.per_title == per_title
    assert job.to_dict()["ladder"] == "per-title"


def test_the_calibration_moves_every_fit_by_what_the_real_preset_does_better() -> None:
    rung = _rung("480p", 480, 1400, -12.0, 4.0)
    kbps = 1400 * 0.35
    better = ssim_of_db(ssim_db(_curve(-12.0, 4.0, kbps)) + 2.0)  # 2 dB better at that rate
    per_title = PerTitle(0.98, 0.003, rungs=[rung, _rung("720p", 720, 2800, -14.0, 4.0)],
                         calibration=Calibration("480p", "medium", kbps, better))
    plain = choose_ladder(PerTitle(0.98, 0.003, rungs=[_rung("480p", 480, 1400, -12.0, 4.0)]))
    choose_ladder(per_title)
    assert per_title.calibration is not None
    assert per_title.calibration.offset_db == pytest.approx(2.0, abs=0.01)
    assert per_title.rungs[0].chosen_kbps < plain.rungs[0].chosen_kbps
    assert PerTitle.from_dict(per_title.to_dict()) == per_title
