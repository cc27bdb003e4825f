"""The job's audio rendition in the record: which rendition's encode writes it, and how a
record's copy of it is read (a malformed one is packaged again, never written out)."""

from __future__ import annotations

import pytest

from common.jobs import AudioRendition, Job, Rendition, SourceInfo

WRITTEN = {"playlist": "hls/audio/index.m3u8", "bandwidth": 131_000,
           "average_bandwidth": 129_500, "codecs": "mp4a.40.2", "sample_rate": 44100,
           "channels": 2}


def job_with(*renditions: Rendition, has_audio: bool = True, hls: bool = True) -> Job:
    job = Job.new("talk.mov", "x.mov", hls=hls)
    job.source = SourceInfo(duration=60.0, width=1920, height=1080, video_codec="h264",
                            fps=25.0, has_audio=has_audio)
    job.renditions = list(renditions)
    return job


def rung(profile: str, height: int, audio_kbps: int = 128, **kwargs: object) -> Rendition:
    return Rendition(profile, height=height, target={"audio_bitrate_kbps": audio_kbps},
                     **kwargs)  # type: ignore[arg-type]


def test_the_tallest_whole_rendition_carries_the_audio() -> None:
    job = job_with(rung("480p", 480, 96), rung("1080p", 1080), rung("720p", 720))
    assert job.audio_carrier == "1080p"
    sliced = job_with(rung("1080p", 1080, chunks=4), rung("720p", 720), rung("480p", 480))
    assert sliced.audio_carrier == "720p"
    copied = job_with(rung("1080p", 1080, passthrough=True), rung("480p", 480, 96))
    assert copied.audio_carrier == "480p"
    same_height = job_with(rung("av1-720p", 720, 96), rung("h264-720p", 720, 128))
    assert same_height.audio_carrier == "h264-720p"  # the better audio of the two


@pytest.mark.parametrize("job", [
    job_with(rung("1080p", 1080), has_audio=False),
    job_with(rung("1080p", 1080), hls=False),
    job_with(rung("1080p", 1080, chunks=3)),
], ids=["silent source", "no HLS", "only slices"])
def test_no_rendition_carries_it_when_nothing_would_use_it(job: Job) -> None:
    assert job.audio_carrier is None


def test_a_recorded_audio_rendition_round_trips() -> None:
    rendition = Rendition.from_dict(Rendition("1080p", audio=AudioRendition(**WRITTEN))
                                    .to_dict())
    assert rendition.audio == AudioRendition(**WRITTEN)
    assert Rendition.from_dict({"profile": "720p"}).audio is None


@pytest.mark.parametrize("bad", [
    {**WRITTEN, "codecs": 'mp4a.40.2"\n#EXT-X-STREAM-INF:BANDWIDTH=1'},
    {**WRITTEN, "playlist": "hls/../../etc/index.m3u8"},
    {**WRITTEN, "playlist": "/etc/passwd"},
    {**WRITTEN, "sample_rate": "fast"},
    {key: value for key, value in WRITTEN.items() if key != "channels"},
    "hls/audio/index.m3u8",
], ids=["playlist line in codecs", "dot-dot playlist", "absolute playlist", "not a number",
        "missing field", "not an object"])
def test_a_malformed_audio_rendition_in_a_record_is_dropped(bad: object) -> None:
    assert AudioRendition.from_dict(bad) is None
    assert Rendition.from_dict({"profile": "1080p", "audio": bad}).audio is None
