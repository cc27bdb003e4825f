"""What a player is told of a finished file's streams, from ffprobe's description of them:
RFC 6381 CODECS strings (HLS ``CODECS``, DASH ``codecs``) and the audio's format."""

from __future__ import annotations

from typing import Any, NamedTuple

H264_PROFILE_IDC = {"Baseline": 0x42, "Constrained Baseline": 0x42, "Main": 0x4D,
                    "High": 0x64, "High 10": 0x6E}


def stream_codecs(stream: dict[str, Any]) -> str | None:
    """The RFC 6381 string of one ffprobe stream (None for a codec the player need not know)."""
    name, level = stream.get("codec_name"), int(stream.get("level") or 0)
    if name == "h264":
        idc = H264_PROFILE_IDC.get(str(stream.get("profile")), 0x64)
        return f"avc1.{idc:02x}00{level or 40:02x}"
    if name == "hevc":  # Main (idc 1, compatibility 6) or Main 10 (idc 2, compatibility 4)
        main10 = str(stream.get("profile")) == "Main 10"
        return f"hvc1.{2 if main10 else 1}.{4 if main10 else 6}.L{level or 93}.B0"
    if name == "av1":  # Main profile, seq_level_idx, main tier, 8 or 10 bits
        depth = 10 if "10" in str(stream.get("pix_fmt")) else 8
        return f"av01.0.{max(level, 0):02d}M.{depth:02d}"
    if name == "aac":
        return "mp4a.40.2"
    return None


def codecs_string(streams: list[dict[str, Any]]) -> str:
    """The RFC 6381 CODECS value of a file's ffprobe streams, those a player must know."""
    return ",".join(c for c in (stream_codecs(s) for s in streams) if c)


class AudioFormat(NamedTuple):
    """What a player is told of an AAC stream: its CODECS entry, rate and channels."""

    codecs: str
    sample_rate: int
    channels: int


def audio_format(streams: list[dict[str, Any]]) -> AudioFormat | None:
    """The format of the first audio stream among a file's ffprobe streams (None: none)."""
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if audio is None:
        return None
    return AudioFormat(stream_codecs(audio) or "mp4a.40.2",
                       int(audio.get("sample_rate") or 48000), int(audio.get("channels") or 2))
