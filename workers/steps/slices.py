"""How a long source is cut for split-and-stitch, and how its slices are queued."""

from __future__ import annotations

import math

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


def chunk_window(job: Job, index: int) -> Window:
    assert job.source is not None
    start = index * job.chunk_length_s
    return Window(start, min(job.chunk_length_s, job.source.duration - start))


def initial_window(count: int, settings: Settings) -> int:
    """How many slices to queue at once when the job is planned."""
    return min(count, settings.chunk_window)
