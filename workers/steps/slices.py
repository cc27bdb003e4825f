"""How a long source is cut for split-and-stitch, and how its slices are queued."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from common.jobs import Job
from common.settings import Settings
from workers.ffmpeg.commands import Window


def chunk_length(duration_s: float, settings: Settings, requested: int | None) -> float:
    """Return the chunk length for a source, a multiple of the HLS segment; 0 means unchunked."""
    if requested == 0 or duration_s <= 0:
        return 0.0
    if requested is None:
        if not settings.chunk_above_s or duration_s <= settings.chunk_above_s:
            return 0.0
        requested = settings.chunk_seconds
    segment = settings.segment_seconds
    length = max(segment, math.ceil(requested / segment) * segment)
    if duration_s / length > settings.max_chunks:  # longer slices rather than a task flood
        length = math.ceil(duration_s / settings.max_chunks / segment) * segment
    return float(length) if duration_s > length else 0.0


def chunk_count(duration_s: float, length_s: float) -> int:
    return max(1, math.ceil(duration_s / length_s - 1e-6))


KEYFRAME_CUT = "keyframe"
"""The slice starts on a source keyframe: FFmpeg seeks there and decodes nothing before it."""
SEEK_CUT = "seek"
"""No source keyframe near the boundary: the slice decodes from the keyframe before it."""


@dataclass(frozen=True)
class SlicePlan:
    bounds: list[float]
    """Where each slice starts, then the source's end."""
    cuts: list[str]
    """How each slice starts: ``keyframe`` or ``seek``."""

    @property
    def seeks(self) -> int:
        return self.cuts.count(SEEK_CUT)

    @property
    def spread(self) -> float:
        """How unequal the slices are: (longest - shortest) / mean."""
        lengths = [b - a for a, b in zip(self.bounds, self.bounds[1:], strict=False)]
        return (max(lengths) - min(lengths)) / (sum(lengths) / len(lengths))


KeyframesBefore = Callable[[list[float]], list[float]]


LENGTH_LEEWAY = 0.3
"""How far from the asked slice length a plan may go to cut every slice on a keyframe."""
MOST_SPREAD = 0.25
"""How unequal (longest - shortest, over the mean) such a keyframe plan's slices may be."""


def plan_slices(duration_s: float, length_s: float, segment_s: int, slots: int,
                keyframes_before: KeyframesBefore) -> SlicePlan:
    """Cut ``duration_s`` into about ``length_s`` slices, as many as a multiple of the encode
    ``slots`` online (equal shares), each boundary the segment boundary nearest the equal
    cut. When that makes a slice seek (no source keyframe on its boundary), a count whose
    slices stay within 30 % of the asked length, nearly equal, and start every one on a
    source keyframe (within half a segment of the equal cut) wins: a source with 10 s GOPs
    asked for 8 s slices gets 10 s slices that decode nothing twice."""
    most = max(1, chunk_count(duration_s, segment_s))
    wanted = min(most, _shares(chunk_count(duration_s, length_s), slots))
    grid = [float(segment_s * k) for k in range(1, most + 1) if segment_s * k < duration_s]
    keyframes = sorted(set(keyframes_before(grid))) if grid else []
    asked = _aligned(duration_s, wanted, segment_s, keyframes)
    if not asked.seeks:
        return asked
    near = [n for n in range(2, most + 1) if (slots <= 1 or n % slots == 0)
            and abs(duration_s / n - length_s) <= LENGTH_LEEWAY * length_s]
    keyed = [p for p in (_on_keyframes(duration_s, n, segment_s, keyframes) for n in near)
             if p is not None and p.spread <= MOST_SPREAD]
    return min(keyed, key=lambda p: (round(p.spread, 2), abs(len(p.cuts) - wanted)),
               default=asked)


def _shares(count: int, slots: int) -> int:
    return math.ceil(count / slots) * slots if slots > 1 else count


def _is_keyframe(time_s: float, keyframes: list[float]) -> bool:
    return any(abs(k - time_s) <= 0.02 for k in keyframes)  # a frame at 50 fps


def _aligned(duration_s: float, count: int, segment_s: int, keyframes: list[float]) -> SlicePlan:
    """Boundaries on the segment multiples nearest the equal cuts."""
    bounds = [0.0]
    for i in range(1, count):
        pick = float(math.floor(duration_s * i / count / segment_s + 0.5) * segment_s)
        if bounds[-1] < pick < duration_s:
            bounds.append(pick)
    cuts = [KEYFRAME_CUT] + [KEYFRAME_CUT if _is_keyframe(b, keyframes) else SEEK_CUT
                             for b in bounds[1:]]
    return SlicePlan([*bounds, duration_s], cuts)


def _on_keyframes(duration_s: float, count: int, segment_s: int,
                  keyframes: list[float]) -> SlicePlan | None:
    """Boundaries on the source keyframes nearest the equal cuts, or None if one has none."""
    bounds = [0.0]
    for i in range(1, count):
        ideal = duration_s * i / count
        near = [k for k in keyframes if abs(k - ideal) <= segment_s / 2 and k > bounds[-1]]
        if not near:
            return None
        bounds.append(min(near, key=lambda k: abs(k - ideal)))
    return SlicePlan([*bounds, duration_s], [KEYFRAME_CUT] * count)


def chunk_window(job: Job, index: int) -> Window:
    assert job.source is not None
    if job.chunk_bounds:
        start, end = job.chunk_bounds[index], job.chunk_bounds[index + 1]
        return Window(start, end - start)
    start = index * job.chunk_length_s
    return Window(start, min(job.chunk_length_s, job.source.duration - start))


def initial_window(count: int, settings: Settings) -> int:
    """How many slices to queue at once when the job is planned."""
    return min(count, settings.chunk_window)
