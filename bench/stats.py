"""Percentiles and summaries of latency samples (nearest-rank, no interpolation surprises)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any


def percentile(values: Sequence[float], pct: float) -> float:
    """Return the nearest-rank ``pct`` percentile of ``values`` (NaN when empty)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return float(ordered[min(rank, len(ordered)) - 1])


def summarize(values: Sequence[float], *, scale: float = 1.0, unit: str = "ms",
              digits: int = 2) -> dict[str, Any]:
    """Return n, p50, p90, p99, max and mean of ``values`` times ``scale``, rounded."""
    scaled = [v * scale for v in values]

    def r(x: float) -> float | None:
        return None if math.isnan(x) else round(x, digits)

    return {
        "n": len(scaled),
        "unit": unit,
        "p50": r(percentile(scaled, 50)),
        "p90": r(percentile(scaled, 90)),
        "p99": r(percentile(scaled, 99)),
        "max": r(max(scaled)) if scaled else None,
        "mean": r(statistics.fmean(scaled)) if scaled else None,
    }


def ratio(numerator: float | None, denominator: float | None, digits: int = 3) -> float | None:
    """Return numerator / denominator rounded, or None when either is missing or zero."""
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, digits)


def growth_pct(before: float | None, after: float | None) -> float | None:
    """Return how much ``after`` grew over ``before``, in percent."""
    if not before or after is None:
        return None
    return round(100.0 * (after - before) / before, 1)
