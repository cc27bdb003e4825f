"""A split-and-stitch job's audio in parts, one per encode slot, joined without a seam.

AAC codes overlapping blocks of 1024 samples, so two separately encoded parts join cleanly
only where both encoders coded the same frames of the same signal: every cut lies on the
source's 1024-sample grid, each part also encodes ``TAIL_FRAMES`` past its end (the
encoder's look-ahead) and, after the first, a lead-in before its start (FFmpeg's AAC
encoder needs several seconds to settle its rate control; from a cold start the first
seconds code measurably worse). The stitch keeps each part's own frames with the concat
demuxer's ``inpoint``/``outpoint``/``duration``, so the joined track has every sample of
the source once, in place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from common.jobs import SourceInfo

AAC_FRAME = 1024
"""Samples per AAC frame (FFmpeg's encoder codes AAC-LC)."""
TAIL_FRAMES = 2
"""Frames each part encodes past its cut, so its last kept frame is coded like the next
part's first neighbour."""
AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025,
             8000, 7350)
"""The sample rates AAC codes as they are (any other is resampled: no grid to cut on)."""


@dataclass(frozen=True)
class AudioPart:
    """What one part encodes from the source, and what of it the joined track keeps."""

    start_s: float
    """Where its encode starts in the source (its cut minus the lead-in)."""
    duration_s: float | None
    """How long its encode runs; None: to the source's end (the last part)."""
    inpoint_s: float
    """Where its own frames start, in the part's time (0 for the first)."""
    kept_s: float | None
    """How much of it the joined track keeps; None: all to its end (the last part)."""


LENGTH_TOLERANCE_S = 0.1
"""How far the audio's end may be from the video's for the parts to cover it as planned."""


def splittable(source: SourceInfo) -> bool:
    """Whether the source's audio can be cut on its frame grid: a rate AAC codes as it is,
    timestamps that find every sample, and as long as the video (the cuts are planned over
    the source's duration); else one track is encoded whole."""
    return (source.has_audio and source.audio_rate in AAC_RATES and source.audio_sample_exact
            and source.audio_duration is not None
            and abs(source.audio_duration - source.duration) <= LENGTH_TOLERANCE_S)


def plan_cuts(duration_s: float, rate: int, parts: int, lead_s: float) -> list[int]:
    """Cut points (samples, on the frame grid) that give each of ``parts`` encodes the same
    length, lead-in included; fewer parts where a part would keep less than its lead-in."""
    while parts > 1 and duration_s < (parts + 1) * max(lead_s, 1.0):
        parts -= 1
    if parts <= 1:
        return []
    encoded = (duration_s + (parts - 1) * lead_s) / parts  # the first keeps all of it
    return [_on_grid(encoded + k * (encoded - lead_s), rate) for k in range(parts - 1)]


def _on_grid(time_s: float, rate: int) -> int:
    return round(time_s * rate / AAC_FRAME) * AAC_FRAME


def part_count(cuts: list[int]) -> int:
    return len(cuts) + 1


def audio_part(cuts: list[int], index: int, rate: int, lead_s: float) -> AudioPart:
    """Part ``index`` of the cuts: its encode window and what the join keeps of it."""
    if not 0 <= index <= len(cuts):
        raise ValueError(f"audio part {index} of {part_count(cuts)}")
    begin = cuts[index - 1] if index else 0
    start = max(0, begin - _on_grid(lead_s, rate)) if index else 0
    last = index == len(cuts)
    end = None if last else cuts[index] + TAIL_FRAMES * AAC_FRAME
    return AudioPart(start / rate, None if end is None else (end - start) / rate,
                     (begin - start) / rate,
                     None if last else (cuts[index] - begin) / rate)


def concat_lines(names: list[str], cuts: list[int], rate: int, lead_s: float) -> list[str]:
    """The ffconcat list that joins the parts (relative names, so ``safe`` stays on).

    ``inpoint`` is the part's first own frame exactly (the demuxer seeks to the frame at or
    before it); ``outpoint`` half a frame before its cut (the demuxer drops packets whose
    timestamp reaches it, and a cut that rounds up to the next microsecond would keep one
    frame too many); ``duration`` the exact length kept, which places the next part.
    """
    if len(names) != part_count(cuts):
        raise ValueError(f"{len(names)} audio files for {part_count(cuts)} parts")
    lines = ["ffconcat version 1.0"]
    half_frame = AAC_FRAME / 2 / rate
    for name, index in zip(names, range(part_count(cuts)), strict=True):
        part = audio_part(cuts, index, rate, lead_s)
        lines.append(f"file {name}")
        if part.inpoint_s:
            lines.append(f"inpoint {_seconds(part.inpoint_s)}")
        if part.kept_s is not None:
            lines.append(f"outpoint {_seconds(part.inpoint_s + part.kept_s - half_frame)}")
            lines.append(f"duration {_seconds(part.kept_s)}")
    return lines


def _seconds(value: float) -> str:
    """Microseconds, what the concat demuxer reads (nearest: a sample is over 10 us)."""
    return f"{math.floor(value * 1e6 + 0.5) / 1e6:.6f}"
