"""Read what the packaging wrote: DASH manifests and CMAF segments, checked with ffprobe."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

MPD_NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


@dataclass(frozen=True)
class Representation:
    """One representation of an MPD with its adaptation set's content type."""

    id: str
    content_type: str
    codecs: str
    init: str
    media: list[str]
    """Each media segment's path relative to the manifest, in order."""
    starts_s: list[float]
    """Each segment's start time from the SegmentTimeline, in seconds."""
    seconds: float


def _segments(template: ET.Element) -> tuple[list[str], list[float], float]:
    timescale = int(template.get("timescale", "1"))
    number, media = int(template.get("startNumber", "1")), template.get("media", "")
    names, starts, ticks = [], [], 0
    for entry in template.iterfind("d:SegmentTimeline/d:S", MPD_NS):
        ticks = int(entry.get("t", ticks))
        for _ in range(1 + int(entry.get("r", "0"))):
            names.append(media.replace("$Number%05d$", f"{number:05d}"))
            starts.append(ticks / timescale)
            ticks += int(entry.get("d", "0"))
            number += 1
    return names, starts, ticks / timescale


def mpd_representations(manifest: Path) -> list[Representation]:
    """Every representation of ``manifest``, in document order."""
    root = ET.parse(manifest).getroot()
    assert root.tag == f"{{{MPD_NS['d']}}}MPD", root.tag
    found = []
    for adaptation in root.iterfind("d:Period/d:AdaptationSet", MPD_NS):
        for representation in adaptation.iterfind("d:Representation", MPD_NS):
            template = representation.find("d:SegmentTemplate", MPD_NS)
            assert template is not None
            names, starts, seconds = _segments(template)
            found.append(Representation(
                representation.get("id", ""), adaptation.get("contentType", ""),
                representation.get("codecs", ""), template.get("initialization", ""),
                names, starts, seconds))
    return found


def stream_types(path: Path) -> list[str]:
    """The codec types of a file's streams (``video``, ``audio``) in order."""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type",
                          "-of", "csv=p=0", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return out.split()


def segment_starts_on_keyframe(init: Path, segment: Path, scratch: Path) -> bool:
    """Whether the first video frame of a CMAF segment (played after its init) is a keyframe."""
    joined = scratch / f"{segment.parent.name}-{segment.stem}.mp4"
    joined.write_bytes(init.read_bytes() + segment.read_bytes())
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v", "-read_intervals", "%+#1",
         "-show_entries", "frame=key_frame", "-of", "csv=p=0", str(joined)],
        check=True, capture_output=True, text=True).stdout
    return out.split()[0].strip(",") == "1"
