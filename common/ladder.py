"""Encoding profiles (the ladder) and the planner that fits them to a source."""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from common.codecs import FAMILIES, UnknownCodec, VideoCodec, parse_codec
from common.jobs import SourceInfo

AUDIO_RENDITION = "audio"
"""The name of a job's audio rendition (its folder beside the video renditions')."""
RESERVED_NAMES = {AUDIO_RENDITION: "audio rendition"}


class LadderError(ValueError):
    """A profiles file or a profile request that cannot be used; the message says why."""


@dataclass(frozen=True)
class Profile:
    """One rung: a target height, its video codec and the settings to reach it (AAC audio)."""

    name: str
    height: int
    video_bitrate_kbps: int
    maxrate_kbps: int
    bufsize_kbps: int
    audio_bitrate_kbps: int = 128
    preset: str = "medium"
    """The software encoder's preset (x264/x265 names; SVT-AV1 0-13); per-codec default."""
    h264_profile: str = "high"
    crf: int | None = None
    codec: str = VideoCodec.H264.value
    bit_depth: int = 8
    """8 (what every player decodes) or, for HEVC and AV1, 10 when asked for (HDR masters,
    less banding)."""

    @property
    def pix_fmt(self) -> str:
        """The frames the encoder is given: 4:2:0 at the rung's bit depth."""
        return "yuv420p10le" if self.bit_depth == 10 else "yuv420p"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_LADDER: tuple[Profile, ...] = (
    Profile("1080p", 1080, video_bitrate_kbps=5000, maxrate_kbps=5350, bufsize_kbps=7500),
    Profile("720p", 720, video_bitrate_kbps=2800, maxrate_kbps=2996, bufsize_kbps=4200),
    Profile("480p", 480, video_bitrate_kbps=1400, maxrate_kbps=1498, bufsize_kbps=2100,
            audio_bitrate_kbps=96),
)


@dataclass(frozen=True)
class RenditionPlan:
    """What one rendition of one job will be: its profile, frame size and whether to copy."""

    profile: Profile
    width: int
    height: int
    passthrough: bool = False


def load_ladder(path: Path | None) -> tuple[Profile, ...]:
    """Return the profiles from a JSON or TOML file, or the default ladder when ``path`` is None.

    The file holds ``{"profiles": [{"name": ..., "height": ..., "video_bitrate_kbps": ...}]}``
    (TOML: ``[[profiles]]`` tables). ``maxrate_kbps`` defaults to 1.07x the bitrate and
    ``bufsize_kbps`` to 1.5x.
    """
    if path is None:
        return DEFAULT_LADDER
    try:
        text = Path(path).read_text(encoding="utf-8")
        data = tomllib.loads(text) if str(path).endswith(".toml") else json.loads(text)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise LadderError(f"Cannot read the profiles file {path} ({reason}).") from exc
    entries = data.get("profiles") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise LadderError(f"The profiles file {path} has no 'profiles' list.")
    profiles = tuple(_profile_from_entry(entry, path) for entry in entries)
    names = [p.name for p in profiles]
    if len(set(names)) != len(names):
        raise LadderError(f"The profiles file {path} names a profile twice.")
    return profiles


def _profile_from_entry(entry: Any, path: Path) -> Profile:
    if not isinstance(entry, dict):
        raise LadderError(f"Every profile in {path} must be a table of settings.")
    try:
        name = str(entry["name"])
        height = int(entry["height"])
        bitrate = int(entry["video_bitrate_kbps"])
        maxrate = int(entry.get("maxrate_kbps", round(bitrate * 1.07)))
        bufsize = int(entry.get("bufsize_kbps", round(bitrate * 1.5)))
    except (KeyError, TypeError, ValueError) as exc:
        raise LadderError(
            f"Every profile in {path} needs name, height and video_bitrate_kbps, and numbers "
            f"for its rates ({exc})."
        ) from exc
    if not name.replace("_", "").replace("-", "").isalnum() or height < 16 or bitrate < 16:
        raise LadderError(f"Profile {name!r} in {path} has an unusable name, height or bitrate.")
    if name in RESERVED_NAMES:
        raise LadderError(f"Profile {name!r} in {path}: that name is taken by the job's "
                          f"{RESERVED_NAMES[name]}; choose another.")
    try:
        family = FAMILIES[parse_codec(entry.get("codec", VideoCodec.H264.value))]
    except UnknownCodec as exc:
        raise LadderError(f"Profile {name!r} in {path}: {exc}") from None
    preset = str(entry.get("preset", family.default_preset))
    if preset not in family.presets:
        raise LadderError(f"Profile {name!r} in {path}: {family.software} has no preset "
                          f"{preset[:40]!r} (it takes {', '.join(sorted(family.presets))}).")
    depth = entry.get("bit_depth", 8)
    if depth not in (8, 10) or isinstance(depth, bool):
        raise LadderError(f"Profile {name!r} in {path}: bit_depth is 8 or 10, not {depth!r}.")
    if depth == 10 and family.codec == VideoCodec.H264:
        raise LadderError(f"Profile {name!r} in {path}: 10-bit H.264 plays on almost no "
                          "device; use codec hevc or av1 for 10-bit.")
    extra = {k: entry[k] for k in ("audio_bitrate_kbps", "h264_profile", "crf", "bit_depth")
             if k in entry}
    return Profile(
        name=name,
        height=height,
        video_bitrate_kbps=bitrate,
        maxrate_kbps=maxrate,
        bufsize_kbps=bufsize,
        preset=preset,
        codec=family.codec.value,
        **extra,
    )


def select_profiles(ladder: tuple[Profile, ...], names: list[str] | None) -> tuple[Profile, ...]:
    """Return the rungs a job asked for (all when ``names`` is empty), in ladder order."""
    if not names:
        return ladder
    known = {p.name for p in ladder}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise LadderError(
            f"Unknown profile {', '.join(unknown)}; this cluster offers {', '.join(sorted(known))}."
        )
    return tuple(p for p in ladder if p.name in names)


def even(value: float) -> int:
    """Round to the nearest even integer of at least 2 (H.264 4:2:0 needs even sizes)."""
    return max(2, round(value / 2.0) * 2)


def scaled_size(source: SourceInfo, height: int) -> tuple[int, int]:
    """Return the (width, height) at ``height`` that keeps the source's aspect ratio."""
    target_height = even(height)
    return even(source.width * target_height / source.height), target_height


def plan_renditions(
    source: SourceInfo, profiles: tuple[Profile, ...], *, passthrough_mode: bool = False
) -> list[RenditionPlan]:
    """Fit the profiles to the source: no upscaling, aspect kept, copy when already there."""
    if passthrough_mode:
        lowest = min(profiles, key=lambda p: p.height)
        kept = source.video_codec if source.video_codec in set(VideoCodec) else lowest.codec
        source_profile = Profile(**{**lowest.to_dict(), "name": "source", "codec": kept})
        return [RenditionPlan(source_profile, source.width, source.height, passthrough=True)]
    fitting = [p for p in profiles if p.height <= source.height]
    if not fitting:
        lowest = min(profiles, key=lambda p: p.height)
        width, height = even(source.width), even(source.height)
        return [RenditionPlan(lowest, width, height, _can_copy(source, lowest, height))]
    plans = []
    for profile in fitting:
        width, height = scaled_size(source, profile.height)
        plans.append(RenditionPlan(profile, width, height, _can_copy(source, profile, height)))
    return plans


def _can_copy(source: SourceInfo, profile: Profile, height: int) -> bool:
    """True when the source already is what the rung asks for: its codec, 4:2:0 at the rung's
    bit depth, same size, under the cap."""
    return (
        source.video_codec == profile.codec
        and source.height == height
        and source.width % 2 == 0
        and source.bitrate_kbps is not None
        and source.bitrate_kbps <= profile.maxrate_kbps + profile.audio_bitrate_kbps
        and (source.pix_fmt in ((None, "yuv420p", "yuvj420p") if profile.bit_depth == 8
                                else ("yuv420p10le",)))
    )
