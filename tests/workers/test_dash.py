"""The DASH manifest: adaptation sets per codec, timelines that add up, one audio set."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from common.jobs import AudioRendition
from workers.ffmpeg.codec_strings import stream_codecs
from workers.ffmpeg.dash import TIMESCALE, Timeline, write_mpd
from workers.ffmpeg.hls import Variant

NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


def _playlist(folder: Path, durations: list[float]) -> None:
    folder.mkdir(parents=True)
    lines = ["#EXTM3U", '#EXT-X-MAP:URI="init.mp4"']
    for index, seconds in enumerate(durations):
        lines += [f"#EXTINF:{seconds:.6f},", f"seg_{index:05d}.m4s"]
    (folder / "index.m3u8").write_text("\n".join([*lines, "#EXT-X-ENDLIST", ""]))


def _timeline_seconds(representation: ET.Element) -> float:
    ticks = 0
    for entry in representation.iterfind("d:SegmentTemplate/d:SegmentTimeline/d:S", NS):
        ticks += int(entry.get("d", "0")) * (1 + int(entry.get("r", "0")))
    return ticks / TIMESCALE


def test_timeline_folds_equal_durations_and_starts_at_zero() -> None:
    timeline = Timeline((360_000, 360_000, 360_000, 180_000))
    entries = [dict(e.attrib) for e in timeline.element()]
    assert entries == [{"d": "360000", "t": "0", "r": "2"}, {"d": "180000"}]
    assert timeline.seconds == 14.0


def test_mpd_groups_video_by_codec_and_adds_the_audio(tmp_path: Path) -> None:
    hls = tmp_path / "hls"
    for name in ("av1-720p", "h264-480p", "h264-240p"):
        _playlist(hls / name, [4.0, 4.0, 2.04])
    _playlist(hls / "audio", [4.010667, 3.989333, 2.090667])
    variants = [
        Variant("hls/h264-240p/index.m3u8", 300_000, 250_000, 426, 240, "avc1.42c015,mp4a.40.2",
                29.97),
        Variant("hls/av1-720p/index.m3u8", 900_000, 800_000, 1280, 720, "av01.0.05M.08,mp4a.40.2",
                29.97),
        Variant("hls/h264-480p/index.m3u8", 800_000, 700_000, 854, 480, "avc1.64001e,mp4a.40.2",
                29.97),
    ]
    audio = AudioRendition("hls/audio/index.m3u8", 130_000, 128_000, "mp4a.40.2", 44100, 2)
    assert write_mpd(tmp_path, variants, audio) == "hls/manifest.mpd"
    mpd = ET.parse(hls / "manifest.mpd").getroot()
    assert (mpd.get("type"), mpd.get("mediaPresentationDuration")) == ("static", "PT10.040S")
    sets = mpd.findall("d:Period/d:AdaptationSet", NS)
    assert [s.get("contentType") for s in sets] == ["video", "video", "audio"]
    av1, h264, sound = ([r for r in s.findall("d:Representation", NS)] for s in sets)
    assert [r.get("id") for r in av1] == ["av1-720p"]
    assert [r.get("id") for r in h264] == ["h264-480p", "h264-240p"]  # highest rate first
    assert [r.get("codecs") for r in h264] == ["avc1.64001e", "avc1.42c015"]
    assert h264[0].get("frameRate") == "30000/1001" and h264[0].get("width") == "854"
    template = h264[0].find("d:SegmentTemplate", NS)
    assert template is not None and template.attrib == {
        "timescale": "90000", "startNumber": "0", "initialization": "h264-480p/init.mp4",
        "media": "h264-480p/seg_$Number%05d$.m4s"}
    assert all(abs(_timeline_seconds(r) - 10.04) < 1e-6 for r in [*av1, *h264])
    assert sound[0].get("codecs") == "mp4a.40.2" and sound[0].get("audioSamplingRate") == "44100"
    assert abs(_timeline_seconds(sound[0]) - 10.090667) < 1e-4


def test_mpd_without_audio_has_only_video_sets(tmp_path: Path) -> None:
    _playlist(tmp_path / "hls" / "360p", [2.0, 1.0])
    write_mpd(tmp_path, [Variant("hls/360p/index.m3u8", 1, 1, 640, 360, "avc1.64001e", 25)],
              None)
    mpd = ET.parse(tmp_path / "hls" / "manifest.mpd").getroot()
    sets = mpd.findall("d:Period/d:AdaptationSet", NS)
    assert [s.get("contentType") for s in sets] == ["video"]
    assert sets[0].find("d:Representation", NS).get("frameRate") == "25"  # type: ignore[union-attr]


def test_rfc6381_strings_come_from_the_stream_facts() -> None:
    assert stream_codecs({"codec_name": "h264", "profile": "Constrained Baseline",
                          "level": 13}) == "avc1.42000d"
    assert stream_codecs({"codec_name": "hevc", "profile": "Main 10", "level": 60}) == \
        "hvc1.2.4.L60.B0"
    assert stream_codecs({"codec_name": "hevc", "profile": "Main", "level": 93}) == \
        "hvc1.1.6.L93.B0"
    assert stream_codecs({"codec_name": "av1", "level": 4, "pix_fmt": "yuv420p10le"}) == \
        "av01.0.04M.10"
    assert stream_codecs({"codec_name": "av1", "level": 0, "pix_fmt": "yuv420p"}) == \
        "av01.0.00M.08"
    assert stream_codecs({"codec_name": "aac"}) == "mp4a.40.2"
    assert stream_codecs({"codec_name": "opus"}) is None
