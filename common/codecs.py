"""The video codecs a profile may ask for, and the FFmpeg encoders that make each one.

Shared by the ladder (which codecs a profiles file may name), the planner (which workers
can encode a rung) and the workers (which encoders to try, in which order).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class VideoCodec(StrEnum):
    H264 = "h264"
    HEVC = "hevc"
    AV1 = "av1"


@dataclass(frozen=True)
class CodecFamily:
    """One codec: its encoders in preference order and how MP4 files must tag it."""

    codec: VideoCodec
    software: str
    """The CPU encoder every worker falls back to (the last link of the chain)."""
    hardware: tuple[str, ...]
    """Hardware encoders, tried first on ``gpu`` workers whose test encode succeeded."""
    mp4_tag: str | None
    """The sample entry MP4 and fMP4 outputs carry (``hvc1``: what Apple players accept)."""
    presets: frozenset[str]
    """The values ``preset`` may take for the software encoder."""
    default_preset: str


_X26X_PRESETS = frozenset({"ultrafast", "superfast", "veryfast", "faster", "fast", "medium",
                           "slow", "slower", "veryslow", "placebo"})

FAMILIES: dict[VideoCodec, CodecFamily] = {
    VideoCodec.H264: CodecFamily(
        VideoCodec.H264, "libx264",
        ("h264_nvenc", "h264_qsv", "h264_vaapi", "h264_videotoolbox"), None,
        _X26X_PRESETS, "medium"),
    VideoCodec.HEVC: CodecFamily(
        VideoCodec.HEVC, "libx265",
        ("hevc_nvenc", "hevc_qsv", "hevc_vaapi", "hevc_videotoolbox"), "hvc1",
        _X26X_PRESETS, "medium"),
    VideoCodec.AV1: CodecFamily(
        VideoCodec.AV1, "libsvtav1",
        ("av1_nvenc", "av1_qsv", "av1_vaapi", "av1_amf"), None,
        frozenset(str(n) for n in range(14)), "8"),
}

ENCODER_CODECS: dict[str, VideoCodec] = {
    encoder: family.codec
    for family in FAMILIES.values() for encoder in (family.software, *family.hardware)
}


class UnknownCodec(ValueError):
    """A codec name no profile may use; the message lists the ones it may."""


def parse_codec(raw: object) -> VideoCodec:
    """Return the codec a profile names (case-insensitive), or raise :class:`UnknownCodec`."""
    try:
        return VideoCodec(str(raw).strip().lower())
    except ValueError:
        offered = ", ".join(c.value for c in VideoCodec)
        raise UnknownCodec(f"Unknown codec {str(raw)[:40]!r}; a profile's codec is one of "
                           f"{offered}.") from None


def family_of(codec: str) -> CodecFamily:
    return FAMILIES[parse_codec(codec)]


def codec_of_encoder(encoder: str) -> VideoCodec | None:
    """The codec an FFmpeg encoder makes (None for ``copy`` and encoders not listed here)."""
    return ENCODER_CODECS.get(encoder)


def all_hardware_encoders() -> tuple[str, ...]:
    return tuple(e for family in FAMILIES.values() for e in family.hardware)
