"""HLS and DASH output: a valid master playlist and MPD over the same CMAF segments, one
audio rendition, aligned keyframes, every segment starting on one."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.jobs import Job
from common.settings import Settings
from tests.support.files import job_dir
from tests.support.jobs import submit, wait_for_job
from tests.support.manifests import mpd_representations, segment_starts_on_keyframe, stream_types
from tests.support.media import keyframe_times, make_clip, playlist_attributes
from tests.support.workers import WorkerProcess


@pytest.fixture(scope="module")
def hls_job(gpu_settings: Settings, gpu_worker: WorkerProcess, media_dir: Path) -> Job:
    source = make_clip(media_dir / "hls-source.mp4", seconds=10, size="640x360",
                       extra=["-g", "250"])  # the source's own keyframes are not on 4 s
    return wait_for_job(gpu_settings, submit(gpu_settings, source).id, timeout=120)


def test_master_playlist_lists_every_rendition_with_its_facts(
    gpu_settings: Settings, hls_job: Job
) -> None:
    folder = job_dir(gpu_settings, hls_job.id)
    assert hls_job.master_playlist == "hls/master.m3u8"
    lines = (folder / hls_job.master_playlist).read_text().splitlines()
    assert lines[0] == "#EXTM3U"
    variants = [(playlist_attributes(line), lines[i + 1]) for i, line in enumerate(lines)
                if line.startswith("#EXT-X-STREAM-INF:")]
    by_uri = {uri: attrs for attrs, uri in variants}
    assert set(by_uri) == {f"{r.profile}/index.m3u8" for r in hls_job.renditions}
    for rendition in hls_job.renditions:
        attrs = by_uri[f"{rendition.profile}/index.m3u8"]
        assert attrs["RESOLUTION"] == f"{rendition.width}x{rendition.height}"
        assert int(attrs["BANDWIDTH"]) >= int(attrs["AVERAGE-BANDWIDTH"]) > 10_000
        assert attrs["CODECS"].startswith("avc1.64") and attrs["CODECS"].endswith(",mp4a.40.2")
        assert attrs["FRAME-RATE"] == "25.000" and attrs["AUDIO"] == "audio"
        assert rendition.playlist == f"hls/{rendition.profile}/index.m3u8"


def test_segments_are_fixed_length_and_each_starts_on_a_keyframe(
    gpu_settings: Settings, hls_job: Job, tmp_path: Path
) -> None:
    folder = job_dir(gpu_settings, hls_job.id)
    for rendition in hls_job.renditions:
        playlist = folder / str(rendition.playlist)
        text = playlist.read_text()
        assert "#EXT-X-TARGETDURATION:4" in text and "#EXT-X-ENDLIST" in text
        durations = [float(line.split(":")[1].rstrip(",")) for line in text.splitlines()
                     if line.startswith("#EXTINF:")]
        assert durations[:-1] == [4.0] * (len(durations) - 1)
        assert abs(sum(durations) - 10.0) < 0.1
        segments = [playlist.parent / line for line in text.splitlines()
                    if line.endswith(".m4s")]
        assert len(segments) == 3
        init = playlist.parent / "init.mp4"
        assert all(segment_starts_on_keyframe(init, segment, tmp_path) for segment in segments)


def test_audio_is_one_rendition_of_its_own_and_video_segments_carry_none(
    gpu_settings: Settings, hls_job: Job
) -> None:
    hls = job_dir(gpu_settings, hls_job.id) / "hls"
    media = [playlist_attributes(line) for line in (hls / "master.m3u8").read_text().splitlines()
             if line.startswith("#EXT-X-MEDIA:")]
    assert media == [{"TYPE": "AUDIO", "GROUP-ID": "audio", "NAME": "Main", "DEFAULT": "YES",
                      "AUTOSELECT": "YES", "CHANNELS": "2", "URI": "audio/index.m3u8"}]
    assert stream_types(hls / "audio" / "init.mp4") == ["audio"]
    for rendition in hls_job.renditions:
        assert stream_types(hls / rendition.profile / "init.mp4") == ["video"]
    audio_seconds = sum(float(line.split(":")[1].rstrip(","))
                        for line in (hls / "audio" / "index.m3u8").read_text().splitlines()
                        if line.startswith("#EXTINF:"))
    assert abs(audio_seconds - 10.0) < 0.1


def test_the_audio_rendition_is_written_by_the_tallest_renditions_encode(
    gpu_settings: Settings, hls_job: Job
) -> None:
    tallest = max(hls_job.renditions, key=lambda r: r.height or 0)
    assert [r.profile for r in hls_job.renditions if r.audio is not None] == [tallest.profile]
    audio = tallest.audio
    assert audio is not None and hls_job.source is not None
    assert (audio.playlist, audio.codecs, audio.channels) == ("hls/audio/index.m3u8",
                                                              "mp4a.40.2", 2)
    assert audio.sample_rate == hls_job.source.audio_rate
    assert audio.bandwidth >= audio.average_bandwidth > 64_000
    # by the encode, not by a second pass over the finished file in the finalize step
    written = [p.stat().st_mtime for p in (job_dir(gpu_settings, hls_job.id) / "hls" /
                                           "audio").iterdir()]
    assert len(written) >= 4 and tallest.finished_at is not None
    assert max(written) <= tallest.finished_at
    hls = job_dir(gpu_settings, hls_job.id) / "hls"
    [in_mpd] = [r for r in mpd_representations(hls / "manifest.mpd") if r.id == "audio"]
    assert in_mpd.codecs == "mp4a.40.2"


def test_the_dash_manifest_names_the_same_segments_and_adds_up_to_the_source(
    gpu_settings: Settings, hls_job: Job
) -> None:
    assert hls_job.dash_manifest == "hls/manifest.mpd"
    hls = job_dir(gpu_settings, hls_job.id) / "hls"
    representations = mpd_representations(hls / "manifest.mpd")
    assert {r.id for r in representations} == {*(r.profile for r in hls_job.renditions), "audio"}
    for representation in representations:
        assert (hls / representation.init).is_file()
        on_disk = sorted(p.name for p in (hls / representation.id).glob("*.m4s"))
        assert [name.split("/")[1] for name in representation.media] == on_disk
        assert abs(representation.seconds - 10.0) < (0.04 if representation.content_type ==
                                                     "video" else 0.1)
    video = [r for r in representations if r.content_type == "video"]
    assert all(r.starts_s == [0.0, 4.0, 8.0] for r in video), video
    assert {r.codecs for r in video} == {
        r.codecs.removesuffix(",mp4a.40.2") for r in hls_job.renditions if r.codecs}


def test_keyframes_are_at_the_same_times_in_every_rendition(
    gpu_settings: Settings, hls_job: Job
) -> None:
    folder = job_dir(gpu_settings, hls_job.id)
    times = {r.profile: keyframe_times(folder / str(r.output)) for r in hls_job.renditions}
    assert len(times) == 3
    assert all(t == [0.0, 4.0, 8.0] for t in times.values()), times


def test_hls_can_be_turned_off_per_job(
    gpu_settings: Settings, gpu_worker: WorkerProcess, clip: Path
) -> None:
    done = wait_for_job(gpu_settings, submit(gpu_settings, clip, profiles=["144p"], hls=False).id)
    assert done.renditions[0].state == "done" and done.renditions[0].playlist is None
    assert done.master_playlist is None
    assert not (job_dir(gpu_settings, done.id) / "hls").exists()
