"""Pure parts of the job steps: slice planning, the stitch list, playlists, open work."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from common.jobs import AudioRendition, Job, Rendition, SourceInfo
from common.settings import Settings
from common.states import JobState, RenditionState
from common.workref import WorkRef
from workers.ffmpeg.commands import Window
from workers.ffmpeg.hls import Variant, media_segments, write_master
from workers.steps.layout import chunk_key, chunk_list_lines
from workers.steps.leased import work_open
from workers.steps.slices import (
    KEYFRAME_CUT,
    SEEK_CUT,
    SlicePlan,
    chunk_count,
    chunk_length,
    chunk_window,
    plan_slices,
)

SETTINGS = Settings(segment_seconds=4, chunk_seconds=32, chunk_above_s=180)


@pytest.mark.parametrize("duration, requested, expected", [
    (100.0, None, 0.0),      # under chunk_above_s: one piece
    (600.0, None, 32.0),     # over it: the cluster's chunk length
    (600.0, 0, 0.0),         # 0 turns chunking off
    (20.0, 5, 8.0),          # rounded up to a whole number of segments
    (20.0, 1, 4.0),          # never shorter than one segment
    (6.0, 8, 0.0),           # one chunk would hold it all: unchunked
    (0.0, 4, 0.0),
])
def test_chunk_length(duration: float, requested: int | None, expected: float) -> None:
    assert chunk_length(duration, SETTINGS, requested) == expected


@pytest.mark.parametrize("duration, length, count", [
    (20.0, 4.0, 5), (20.01, 4.0, 6), (19.99, 4.0, 5), (3.0, 4.0, 1)])
def test_chunk_count(duration: float, length: float, count: int) -> None:
    assert chunk_count(duration, length) == count


def test_chunk_windows_cover_the_source_exactly() -> None:
    source = SourceInfo(duration=18.5, width=320, height=240, video_codec="h264", fps=25,
                        has_audio=True)
    job = Job.new("a", "a", source=source, chunk_length_s=4.0)
    windows = [chunk_window(job, i) for i in range(chunk_count(18.5, 4.0))]
    assert [w.start_s for w in windows] == [0.0, 4.0, 8.0, 12.0, 16.0]
    assert sum(w.duration_s for w in windows) == pytest.approx(18.5)


def test_stitch_list_names_chunk_files_beside_it() -> None:
    assert chunk_list_lines(3) == ["ffconcat version 1.0", "file 00000.mp4", "file 00001.mp4",
                                   "file 00002.mp4"]
    assert chunk_key("j", "720p", 1) == "outputs/j/.chunks/720p/00001.mp4"


def test_media_segments_and_master_playlist(tmp_path: Path) -> None:
    playlist = tmp_path / "hls" / "720p" / "index.m3u8"
    playlist.parent.mkdir(parents=True)
    playlist.write_text("#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:4.000,\nseg_00000.m4s\n"
                        "#EXTINF:2.5,\nseg_00001.m4s\n#EXT-X-ENDLIST\n")
    assert media_segments(playlist) == [(4.0, playlist.parent / "seg_00000.m4s"),
                                        (2.5, playlist.parent / "seg_00001.m4s")]
    variants = [Variant("hls/480p/index.m3u8", 800_000, 700_000, 854, 480, "avc1.64001e", 25),
                Variant("hls/720p/index.m3u8", 2_000_000, 1_800_000, 1280, 720,
                        "avc1.64001f,mp4a.40.2", 25)]
    assert write_master(tmp_path, variants, None) == "hls/master.m3u8"
    lines = (tmp_path / "hls" / "master.m3u8").read_text().splitlines()
    assert lines[:3] == ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    assert lines[3] == ("#EXT-X-STREAM-INF:BANDWIDTH=2000000,AVERAGE-BANDWIDTH=1800000,"
                        'RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2",FRAME-RATE=25.000')
    assert lines[4] == "720p/index.m3u8" and lines[6] == "480p/index.m3u8"


def test_master_playlist_with_an_audio_rendition_adds_its_group_and_its_bits(
    tmp_path: Path
) -> None:
    variants = [Variant("hls/720p/index.m3u8", 2_000_000, 1_800_000, 1280, 720,
                        "avc1.64001f,mp4a.40.2", 25)]
    audio = AudioRendition("hls/audio/index.m3u8", 130_000, 128_000, "mp4a.40.2", 48000, 2)
    (tmp_path / "hls").mkdir()
    write_master(tmp_path, variants, audio)
    lines = (tmp_path / "hls" / "master.m3u8").read_text().splitlines()
    assert lines[3] == ('#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Main",DEFAULT=YES,'
                        'AUTOSELECT=YES,CHANNELS="2",URI="audio/index.m3u8"')
    assert lines[4] == ("#EXT-X-STREAM-INF:BANDWIDTH=2130000,AVERAGE-BANDWIDTH=1928000,"
                        'RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2",FRAME-RATE=25.000,'
                        'AUDIO="audio"')


def test_work_open_by_kind() -> None:
    chunked = Rendition("720p", state=RenditionState.ENCODING, chunks=2,
                        chunk_percent=[100.0, 50.0])
    whole = Rendition("480p", state=RenditionState.DONE)
    job = Job.new("a", "a", state=JobState.ENCODING, renditions=[chunked, whole])
    assert work_open(job, WorkRef.chunk(job.id, 1))
    assert not work_open(job, WorkRef.chunk(job.id, 0))
    assert not work_open(job, WorkRef.stitch(job.id, "720p"))  # a slice is still open
    assert not work_open(job, WorkRef.rendition(job.id, "480p"))
    assert not work_open(job, WorkRef.rendition(job.id, "nope"))
    chunked.chunk_percent[1] = 100.0
    assert work_open(job, WorkRef.stitch(job.id, "720p"))
    job.state = JobState.CANCELED
    assert not work_open(job, WorkRef.stitch(job.id, "720p"))
    assert not work_open(None, WorkRef.chunk("j", 0))


def _no_keyframes(times: list[float]) -> list[float]:
    return [0.0 for _ in times]


def _lengths(plan: SlicePlan) -> list[float]:
    return [b - a for a, b in itertools.pairwise(plan.bounds)]


def test_without_source_keyframes_slices_are_equal_shares_on_segment_boundaries() -> None:
    plan = plan_slices(60.0, 8.0, 4, 2, _no_keyframes)
    assert len(plan.cuts) % 2 == 0 and plan.bounds[0] == 0.0 and plan.bounds[-1] == 60.0
    assert all(b % 4 == 0 for b in plan.bounds[:-1])
    assert max(_lengths(plan)) - min(_lengths(plan)) <= 4
    assert plan.cuts[0] == KEYFRAME_CUT and set(plan.cuts[1:]) == {SEEK_CUT}
    three = plan_slices(60.0, 32.0, 4, 3, _no_keyframes)  # 2 slices of 32 s: 3 shares instead
    assert len(three.cuts) == 3


def test_a_source_with_ten_second_gops_asked_for_eight_gets_ten_second_keyframe_slices() -> None:
    def every_ten_seconds(times: list[float]) -> list[float]:
        return [10.0 * (t // 10) for t in times]

    for slots in (1, 2, 3):
        plan = plan_slices(60.0, 8.0, 4, slots, every_ten_seconds)
        assert plan.bounds == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
        assert plan.cuts == [KEYFRAME_CUT] * 6 and len(plan.cuts) % slots == 0
    keyed = plan_slices(20.0, 4.0, 4, 2, lambda ts: [4.0 * (t // 4) for t in ts])
    assert keyed.bounds == [0.0, 4.0, 8.0, 12.0, 16.0, 20.0] and keyed.seeks == 0


def test_balanced_windows_follow_the_recorded_bounds() -> None:
    source = SourceInfo(duration=18.5, width=320, height=240, video_codec="h264", fps=25,
                        has_audio=True)
    job = Job.new("a", "a", source=source, chunk_length_s=8.0, chunk_bounds=[0.0, 8.0, 12.0, 18.5])
    assert [chunk_window(job, i) for i in range(3)] == [
        Window(0.0, 8.0), Window(8.0, 4.0), Window(12.0, 6.5)]
