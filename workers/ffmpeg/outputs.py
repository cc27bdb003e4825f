"""What an encode's outputs must be before they are published: whole renditions of the
source in the format their codec family wants, and whole audio renditions."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from common.codecs import codec_of_encoder, family_of
from common.jobs import SourceInfo
from common.ladder import RenditionPlan
from workers.ffmpeg.codec_strings import AudioFormat, audio_format, codecs_string
from workers.ffmpeg.commands import COPY, INIT_SEGMENT, MEDIA_PLAYLIST
from workers.ffmpeg.hls import media_segments
from workers.ffmpeg.probe import ProbeError, run_ffprobe, run_ffprobes

DURATION_TOLERANCE_S = 0.5


class VerifiedOutput(NamedTuple):
    """What the verification read off a finished output (the packaging needs no second look)."""

    width: int
    height: int
    duration_s: float
    codecs: str
    """The RFC 6381 CODECS value of its streams (``avc1.640028,mp4a.40.2``)."""
    audio: AudioFormat | None


def verify_output(path: Path, plan: RenditionPlan, source: SourceInfo, codec: str,
                  ffprobe_bin: str, nice: int = 0) -> VerifiedOutput:
    """Check the file is a whole rendition of the source in ``codec``'s format, tagged as its
    family wants; return what was read off it."""
    try:
        described: dict[str, Any] | ProbeError = run_ffprobe(path, ffprobe_bin, nice=nice)
    except ProbeError as exc:
        described = exc
    return check_output(described, plan, source, codec)


def check_output(described: dict[str, Any] | ProbeError, plan: RenditionPlan,
                 source: SourceInfo, codec: str) -> VerifiedOutput:
    """The checks of :func:`verify_output` on what ffprobe said of the output."""
    if isinstance(described, ProbeError):
        raise ValueError(f"the output cannot be read back: {described}")
    data = described
    streams = data.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    has_audio = any(s.get("codec_type") == "audio" for s in streams)
    if video is None:
        raise ValueError("the output has no video stream")
    expected = codec_of_encoder(codec)
    if expected is not None and video.get("codec_name") != expected:
        raise ValueError(f"the output's video is {video.get('codec_name')}, not {expected}")
    tag = family_of(expected).mp4_tag if expected is not None else None
    if tag and video.get("codec_tag_string") != tag:
        raise ValueError(f"the output's video is tagged {video.get('codec_tag_string')}, "
                         f"not {tag}")
    width, height = int(video["width"]), int(video["height"])
    depth = 10 if "10" in str(video.get("pix_fmt")) else 8
    if codec != COPY and depth != plan.profile.bit_depth:
        raise ValueError(f"the output is {depth}-bit, not {plan.profile.bit_depth}-bit")
    if codec != COPY and (width, height) != (plan.width, plan.height):
        raise ValueError(f"the output is {width}x{height}, not {plan.width}x{plan.height}")
    if has_audio != source.has_audio:
        raise ValueError("the output's audio does not match the source's")
    duration = float(data.get("format", {}).get("duration") or 0.0)
    if source.duration and abs(duration - source.duration) > max(DURATION_TOLERANCE_S,
                                                                0.02 * source.duration):
        raise ValueError(f"the output lasts {duration:.2f}s, the source {source.duration:.2f}s")
    return VerifiedOutput(width, height, duration, codecs_string(streams), audio_format(streams))



def check_audio_segments(folder: Path, source: SourceInfo) -> None:
    """Check the audio rendition an encode wrote: a playlist whose segments are all there
    and last as long as the source's audio."""
    playlist = folder / MEDIA_PLAYLIST
    if not playlist.is_file():
        raise ValueError("the audio rendition has no playlist")
    segments = media_segments(playlist)
    if not segments or not (folder / INIT_SEGMENT).is_file():
        raise ValueError("the audio rendition has no segments")
    if any(not path.is_file() or path.stat().st_size == 0 for _, path in segments):
        raise ValueError("a segment of the audio rendition is missing or empty")
    lasts, expected = sum(s for s, _ in segments), source.audio_duration or source.duration
    if expected and abs(lasts - expected) > max(DURATION_TOLERANCE_S, 0.02 * expected):
        raise ValueError(f"the audio rendition lasts {lasts:.2f}s, the source's audio "
                         f"{expected:.2f}s")


def verify_all(partials: list[Path], plans: list[RenditionPlan], source: SourceInfo,
               codec: str, ffprobe_bin: str, nice: int) -> list[VerifiedOutput]:
    """Verify every output, their ffprobes side by side (each reads only its file's index)."""
    facts = []
    for data, plan in zip(run_ffprobes(partials, ffprobe_bin, nice=nice), plans,
                          strict=True):
        try:
            facts.append(check_output(data, plan, source, codec))
        except ValueError as exc:
            raise ValueError(f"the {plan.profile.name} output failed verification: "
                             f"{exc}") from exc
    return facts
