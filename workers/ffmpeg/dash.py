"""The DASH manifest over the same CMAF segments the HLS playlists name.

Each rendition's folder holds one init segment and numbered media segments
(``seg_00000.m4s`` ...) of one track. The MPD addresses them with a ``SegmentTemplate``
and a ``SegmentTimeline`` built from the media playlists' segment durations, so the
two manifests can never disagree about what a segment holds. Video renditions are
grouped into one adaptation set per codec (a player picks a codec, then switches
rates within it); the audio rendition is an adaptation set of its own.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from common.jobs import AudioRendition
from workers.ffmpeg.commands import INIT_SEGMENT
from workers.ffmpeg.hls import HLS_DIR, Variant, media_segments
from workers.ffmpeg.staging import private_name

DASH_MANIFEST = "manifest.mpd"
MPD_NAMESPACE = "urn:mpeg:dash:schema:mpd:2011"
LIVE_PROFILE = "urn:mpeg:dash:profile:isoff-live:2011"
TIMESCALE = 90_000
"""Ticks per second of every SegmentTimeline (the MPEG clock: exact for 24, 25, 30, 50
and 60 fps and within one tick of 29.97 and 59.94)."""
MEDIA_TEMPLATE = "seg_$Number%05d$.m4s"


@dataclass(frozen=True)
class Timeline:
    """A track's segment durations, in ``TIMESCALE`` ticks."""

    durations: tuple[int, ...]

    @classmethod
    def of_playlist(cls, playlist: Path) -> Timeline:
        return cls(tuple(round(seconds * TIMESCALE) for seconds, _ in media_segments(playlist)))

    @property
    def seconds(self) -> float:
        return sum(self.durations) / TIMESCALE

    def element(self) -> ET.Element:
        """``<SegmentTimeline>`` with runs of equal durations folded into ``r``."""
        timeline = ET.Element("SegmentTimeline")
        runs: list[list[int]] = []
        for duration in self.durations:
            if runs and runs[-1][0] == duration:
                runs[-1][1] += 1
            else:
                runs.append([duration, 0])
        for index, (duration, repeat) in enumerate(runs):
            entry = ET.SubElement(timeline, "S", d=str(duration))
            if index == 0:
                entry.set("t", "0")
            if repeat:
                entry.set("r", str(repeat))
        return timeline


def _duration(seconds: float) -> str:
    return f"PT{seconds:.3f}S"


def _template(folder: str, timeline: Timeline) -> ET.Element:
    template = ET.Element("SegmentTemplate", timescale=str(TIMESCALE), startNumber="0",
                          initialization=f"{folder}/{INIT_SEGMENT}",
                          media=f"{folder}/{MEDIA_TEMPLATE}")
    template.append(timeline.element())
    return template


def _folder(playlist: str) -> str:
    """``hls/720p/index.m3u8`` -> ``720p``: the MPD sits in ``hls/`` beside the folders."""
    return playlist.removeprefix(f"{HLS_DIR}/").rsplit("/", 1)[0]


def _video_sets(period: ET.Element, job_dir: Path, variants: list[Variant]) -> float:
    """One adaptation set per video codec; return the longest rendition's seconds."""
    longest = 0.0
    by_codec: dict[str, list[Variant]] = {}
    for v in sorted(variants, key=lambda v: v.bandwidth, reverse=True):
        by_codec.setdefault(v.video_codecs.split(".")[0], []).append(v)
    for index, group in enumerate(by_codec.values()):
        adaptation = ET.SubElement(
            period, "AdaptationSet", id=str(index), contentType="video", mimeType="video/mp4",
            segmentAlignment="true", startWithSAP="1",
            maxWidth=str(max(v.width for v in group)),
            maxHeight=str(max(v.height for v in group)))
        for v in group:
            timeline = Timeline.of_playlist(job_dir / v.playlist)
            longest = max(longest, timeline.seconds)
            representation = ET.SubElement(
                adaptation, "Representation", id=_folder(v.playlist), codecs=v.video_codecs,
                bandwidth=str(v.bandwidth), width=str(v.width), height=str(v.height),
                frameRate=_frame_rate(v.frame_rate), sar="1:1")
            representation.append(_template(_folder(v.playlist), timeline))
    return longest


def _frame_rate(fps: float) -> str:
    """DASH wants a rational: 25 -> ``25``, 29.97 -> ``30000/1001``."""
    if abs(fps - round(fps)) < 0.001:
        return str(round(fps))
    return f"{round(fps * 1001)}/1001"


def _audio_set(period: ET.Element, job_dir: Path, audio: AudioRendition, index: int) -> None:
    adaptation = ET.SubElement(period, "AdaptationSet", id=str(index), contentType="audio",
                               mimeType="audio/mp4", lang="und", segmentAlignment="true",
                               startWithSAP="1")
    representation = ET.SubElement(adaptation, "Representation", id=_folder(audio.playlist),
                                   codecs=audio.codecs, bandwidth=str(audio.bandwidth),
                                   audioSamplingRate=str(audio.sample_rate))
    ET.SubElement(representation, "AudioChannelConfiguration", value=str(audio.channels),
                  schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011")
    representation.append(_template(_folder(audio.playlist),
                                    Timeline.of_playlist(job_dir / audio.playlist)))


def write_mpd(job_dir: Path, variants: list[Variant], audio: AudioRendition | None) -> str:
    """Write ``hls/manifest.mpd`` over the packaged renditions; return its path in the job."""
    mpd = ET.Element("MPD", xmlns=MPD_NAMESPACE, profiles=LIVE_PROFILE, type="static",
                     minBufferTime="PT2S")
    period = ET.SubElement(mpd, "Period", id="0", start="PT0S")
    seconds = _video_sets(period, job_dir, variants)
    if audio is not None:
        _audio_set(period, job_dir, audio, index=len(period))
    mpd.set("mediaPresentationDuration", _duration(seconds))
    ET.indent(mpd)
    manifest = job_dir / HLS_DIR / DASH_MANIFEST
    partial = manifest.with_name(private_name(DASH_MANIFEST))
    partial.write_bytes(ET.tostring(mpd, encoding="utf-8", xml_declaration=True) + b"\n")
    os.replace(partial, manifest)
    return f"{HLS_DIR}/{DASH_MANIFEST}"
