"""Per-title ladders: fit quality against bitrate per rung from sample encodes, choose each
rung's bitrate for a target SSIM, drop rungs that add nothing, and correct a miss.

Pure logic on numbers; the sample encodes and measurements are the workers' (see
``workers/ffmpeg/sampling.py``). Quality is SSIM (FFmpeg's ``ssim`` filter, "All"), fitted
in decibels (``-10 log10(1 - SSIM)``), which is close to linear in the log of the bitrate
over a rung's useful range.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

RATE_POINTS = (1.0, 0.35)
"""Where each rung is sampled, as fractions of its profile's bitrate (its cap)."""
CALIBRATION_RATE = 0.35
"""The rate of the one sample made with the rung's own preset (the smallest rung's)."""
EXTRAPOLATE_BELOW = 0.8
"""The lowest bitrate chosen is this fraction of the lowest sampled one (no wild guesses)."""
HULL_MIN_GAIN_DB = 0.3
"""A rung must look this much better (SSIM dB at display size) than the next lower one."""
DEFAULT_SLOPE_DB = 3.6
"""SSIM dB per unit of ln(kb/s) when the samples give no usable slope (2.5 dB a doubling)."""
CORRECTION_MARGIN = 1.05
"""A corrected rate aims this much above what the fit says reaches the target."""


class LadderMode(StrEnum):
    FIXED = "fixed"
    """Every rung at its profile's bitrate (capped ABR), whatever the content."""
    PER_TITLE = "per-title"
    """Each rung at the lowest bitrate that reaches the job's target SSIM (capped)."""


def ssim_db(ssim: float) -> float:
    """SSIM in decibels; 1.0 (identical pictures) is capped at 60 dB."""
    return 60.0 if ssim >= 0.999999 else -10.0 * math.log10(1.0 - ssim)


def ssim_of_db(db: float) -> float:
    return 1.0 - 10.0 ** (-db / 10.0)


@dataclass
class RatePoint:
    """One sample encode of one rung: its real bitrate and its quality."""

    kbps: float
    ssim: float
    """Against the source scaled to the rung."""
    display_ssim: float | None = None
    """Scaled up to the ladder's top size and compared with the source there (the picture a
    viewer gets on the biggest screen), which makes rungs of different sizes comparable."""


@dataclass
class Fit:
    """SSIM dB = intercept + slope * ln(kb/s), least squares over a rung's points."""

    intercept: float
    slope: float

    @classmethod
    def of(cls, pairs: list[tuple[float, float]], offset_db: float = 0.0) -> Fit:
        xs = [math.log(max(kbps, 1.0)) for kbps, _ in pairs]
        ys = [ssim_db(ssim) for _, ssim in pairs]
        mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
        spread = sum((x - mean_x) ** 2 for x in xs)
        slope = (sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
                 if spread > 1e-9 else 0.0)
        slope = max(slope, 0.05)  # quality never falls with more bits; a flat fit stays flat
        return cls(mean_y - slope * mean_x + offset_db, slope)

    def ssim_at(self, kbps: float) -> float:
        return ssim_of_db(self.intercept + self.slope * math.log(max(kbps, 1.0)))

    def kbps_for(self, ssim: float) -> float:
        return math.exp((ssim_db(ssim) - self.intercept) / self.slope)


@dataclass
class Calibration:
    """One sample with the rung's own preset beside the fast one: how much better the real
    encoder does on this content, applied to every rung's fit (in SSIM dB)."""

    profile: str
    preset: str
    kbps: float
    ssim: float
    offset_db: float = 0.0


@dataclass
class RungAnalysis:
    """What the analysis found for one rung and what it chose."""

    profile: str
    height: int
    cap_kbps: int
    points: list[RatePoint]
    chosen_kbps: int = 0
    predicted_ssim: float = 0.0
    predicted_display_ssim: float | None = None
    slope_db: float = DEFAULT_SLOPE_DB
    note: str | None = None
    """Why the choice is what it is when that is not obvious (the cap was reached)."""
    dropped: str | None = None
    """Why the rung is not encoded (it adds nothing the next lower rung does not give)."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RungAnalysis:
        values = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        values["points"] = [RatePoint(**p) for p in values.get("points", [])]
        return cls(**values)


@dataclass
class PerTitle:
    """A job's per-title analysis: the samples, the fits and the ladder chosen from them."""

    target_ssim: float
    tolerance: float
    encoder: str = ""
    preset: str = ""
    """The encoder and fast preset the samples were made with."""
    windows: list[list[float]] = field(default_factory=list)
    """[start, seconds] of each sampled stretch of the source."""
    seconds: float = 0.0
    """Wall time of the analysis."""
    rungs: list[RungAnalysis] = field(default_factory=list)
    calibration: Calibration | None = None
    note: str | None = None
    """Why the job has no per-title ladder after all (the samples could not be made)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PerTitle:
        values = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        values["rungs"] = [RungAnalysis.from_dict(r) for r in values.get("rungs", [])]
        if values.get("calibration"):
            values["calibration"] = Calibration(**values["calibration"])
        return cls(**values)

    def rung(self, profile: str) -> RungAnalysis | None:
        return next((r for r in self.rungs if r.profile == profile), None)

    @property
    def kept(self) -> list[RungAnalysis]:
        return [r for r in self.rungs if r.dropped is None]


def choose_rate(rung: RungAnalysis, target_ssim: float, offset_db: float = 0.0) -> None:
    """Set the rung's bitrate: the lowest its fit (moved by the calibration's ``offset_db``)
    says reaches the target, within its cap."""
    fit = Fit.of([(p.kbps, p.ssim) for p in rung.points], offset_db)
    rung.slope_db = round(fit.slope, 3)
    lowest = min(p.kbps for p in rung.points) * EXTRAPOLATE_BELOW
    wanted = fit.kbps_for(target_ssim)
    if wanted > rung.cap_kbps:
        rung.chosen_kbps = rung.cap_kbps
        rung.note = (f"Reaches SSIM {fit.ssim_at(rung.cap_kbps):.4f} at its profile's cap of "
                     f"{rung.cap_kbps} kb/s, under the target {target_ssim:.4f}: the cap wins.")
    else:
        rung.chosen_kbps = max(1, round(max(wanted, lowest)))
    rung.predicted_ssim = round(fit.ssim_at(rung.chosen_kbps), 5)
    displays = [(p.kbps, p.display_ssim) for p in rung.points if p.display_ssim is not None]
    if len(displays) == len(rung.points):
        rung.predicted_display_ssim = round(
            Fit.of(displays, offset_db).ssim_at(rung.chosen_kbps), 5)


def _gain_db(upper: RungAnalysis, lower: RungAnalysis) -> float | None:
    if upper.predicted_display_ssim is None or lower.predicted_display_ssim is None:
        return None
    return ssim_db(upper.predicted_display_ssim) - ssim_db(lower.predicted_display_ssim)


def prune_hull(rungs: list[RungAnalysis]) -> None:
    """Drop the rungs off the convex hull: a rung that needs no more bits than a bigger one
    (the bigger one looks better for the same bits), and a rung not measurably sharper at
    display size than the next lower kept one."""
    kept: list[RungAnalysis] = []
    for rung in sorted(rungs, key=lambda r: r.height):
        while kept and rung.chosen_kbps <= kept[-1].chosen_kbps:
            lower = kept.pop()
            lower.dropped = (f"Needs {lower.chosen_kbps} kb/s, no less than {rung.profile} "
                             f"({rung.chosen_kbps} kb/s), which shows more picture.")
        gain = _gain_db(rung, kept[-1]) if kept else None
        if gain is not None and gain < HULL_MIN_GAIN_DB:
            rung.dropped = (f"At {rung.chosen_kbps} kb/s it looks no better than "
                            f"{kept[-1].profile} at {kept[-1].chosen_kbps} kb/s on the biggest "
                            f"screen ({gain:+.2f} dB SSIM; a rung must add "
                            f"{HULL_MIN_GAIN_DB} dB).")
            continue
        kept.append(rung)


def calibrate(per_title: PerTitle) -> float:
    """The calibration's offset: its own-preset SSIM dB against what its rung's fast-preset
    fit predicts at the same bitrate (0 without one). Either sign: where the fast preset
    scores better, every rung gets more bits."""
    calibration = per_title.calibration
    rung = per_title.rung(calibration.profile) if calibration else None
    if calibration is None or rung is None:
        return 0.0
    fit = Fit.of([(p.kbps, p.ssim) for p in rung.points])
    offset = ssim_db(calibration.ssim) - ssim_db(fit.ssim_at(calibration.kbps))
    calibration.offset_db = round(offset, 3)
    return calibration.offset_db


def choose_ladder(per_title: PerTitle) -> PerTitle:
    """Calibrate, choose every rung's bitrate, then prune the ladder to its hull; returns
    ``per_title``."""
    offset = calibrate(per_title)
    for rung in per_title.rungs:
        choose_rate(rung, per_title.target_ssim, offset)
    prune_hull(per_title.rungs)
    return per_title


def misses(measured_ssim: float, target_ssim: float, tolerance: float) -> bool:
    """Whether a finished rendition falls short of the target by more than the tolerance."""
    return measured_ssim < target_ssim - tolerance


def corrected_kbps(rung: RungAnalysis, measured_ssim: float, target_ssim: float,
                   chosen_kbps: int) -> int | None:
    """The rate a re-encode should use after a miss (the fit moved through the measured
    point), or None when the rung is at its cap already and cannot go higher."""
    if chosen_kbps >= rung.cap_kbps:
        return None
    slope = rung.slope_db if rung.slope_db > 0.5 else DEFAULT_SLOPE_DB
    factor = math.exp((ssim_db(target_ssim) - ssim_db(measured_ssim)) / slope)
    wanted = chosen_kbps * max(factor, 1.1) * CORRECTION_MARGIN
    return min(rung.cap_kbps, round(wanted))
