"""HEVC and AV1 rungs beside H.264 on a real GPU-tagged worker whose hardware encoders all
fail here: each codec falls back through its own chain, every output is what ffprobe says
it should be, and keyframes line up across codecs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.jobs import Job
from common.settings import Settings
from tests.conftest import cluster_settings
from tests.support.files import job_dir
from tests.support.jobs import submit, wait_for_job
from tests.support.manifests import mpd_representations, segment_starts_on_keyframe
from tests.support.media import (
    ffmpeg_without_av1,
    ffprobe,
    keyframe_times,
    make_clip,
    playlist_attributes,
    stream,
)
from tests.support.redis_server import RedisServer, start_redis
from tests.support.workers import WorkerProcess, start_worker

MIXED_LADDER = {"profiles": [
    {"name": "hevc-240p", "height": 240, "video_bitrate_kbps": 300, "codec": "hevc",
     "preset": "ultrafast", "bit_depth": 10},
    {"name": "av1-180p", "height": 180, "video_bitrate_kbps": 200, "codec": "av1",
     "preset": "12"},
    {"name": "h264-144p", "height": 144, "video_bitrate_kbps": 150, "preset": "ultrafast"},
]}
SECONDS, RATE = 3, 25


@pytest.fixture(scope="module")
def codec_settings(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
                   ) -> Settings:
    ladder = tmp_path_factory.mktemp("codecs") / "mixed.json"
    ladder.write_text(json.dumps(MIXED_LADDER))
    return cluster_settings(redis_server.url, tmp_path_factory.mktemp("data"), ladder,
                            gpu="on", segment_seconds=1)


@pytest.fixture(scope="module")
def codec_worker(codec_settings: Settings, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[WorkerProcess]:
    worker = start_worker(codec_settings, tmp_path_factory.mktemp("logs"), "codecs")
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def source(media_dir: Path) -> Path:
    return make_clip(media_dir / "codecs-320x240.mp4", seconds=SECONDS, size="320x240",
                     rate=RATE)


@pytest.fixture(scope="module")
def mixed_job(codec_settings: Settings, codec_worker: WorkerProcess, source: Path) -> Job:
    return wait_for_job(codec_settings, submit(codec_settings, source).id, timeout=120)


def test_each_rung_is_its_codec_at_its_size_and_length(
    codec_settings: Settings, mixed_job: Job
) -> None:
    expected = {"hevc-240p": ("hevc", "libx265", "hvc1", 320, 240, "yuv420p10le", "Main 10"),
                "av1-180p": ("av1", "libsvtav1", "av01", 240, 180, "yuv420p", "Main"),
                "h264-144p": ("h264", "libx264", "avc1", 192, 144, "yuv420p",
                              "Constrained Baseline")}
    assert {r.profile for r in mixed_job.renditions} == set(expected)
    for rendition in mixed_job.renditions:
        codec, encoder, tag, width, height, pix_fmt, profile = expected[rendition.profile]
        assert (rendition.video_codec, rendition.codec) == (codec, encoder)
        info = ffprobe(job_dir(codec_settings, mixed_job.id) / str(rendition.output))
        video = stream(info, "video")
        assert video is not None and stream(info, "audio") is not None
        assert (video["codec_name"], video["codec_tag_string"]) == (codec, tag)
        assert (video["width"], video["height"], video["pix_fmt"]) == (width, height, pix_fmt)
        assert abs(float(info["format"]["duration"]) - SECONDS) <= 1 / RATE + 0.05
        # the sample entry carries the codec configuration (an empty av1C fails in browsers)
        assert video.get("profile") == profile, video  # HEVC 10-bit only because asked
        init = stream(ffprobe(job_dir(codec_settings, mixed_job.id) / "hls" /
                              rendition.profile / "init.mp4"), "video")
        assert init is not None and int(init.get("extradata_size", 0)) > 0, rendition.profile


def test_a_rung_goes_to_gpu_only_when_the_gpu_worker_has_hardware_for_its_codec(
    mixed_job: Job
) -> None:
    # Debian's FFmpeg lists NVENC, QSV and VAAPI encoders for H.264 and HEVC, none for AV1.
    queues = {r.profile: r.queue for r in mixed_job.renditions}
    assert queues == {"hevc-240p": "gpu", "h264-144p": "gpu", "av1-180p": "cpu"}


def test_each_codec_falls_back_through_its_own_hardware_encoders(mixed_job: Job) -> None:
    # A GPU-tagged worker on a machine without GPUs: every listed hardware encoder of the
    # rung's codec failed with FFmpeg's own line, and only those of that codec were tried.
    for rendition in mixed_job.renditions:
        tried = [f.codec for f in rendition.fallbacks]
        family = {"hevc": "hevc_", "av1": "av1_", "h264": "h264_"}[rendition.video_codec]
        assert all(name.startswith(family) for name in tried), (rendition.profile, tried)
        assert all(f.error and "@ 0x" not in f.error for f in rendition.fallbacks)
    hevc = mixed_job.rendition("hevc-240p")
    assert "hevc_nvenc" in [f.codec for f in hevc.fallbacks]
    assert "libcuda" in next(f.error for f in hevc.fallbacks if f.codec == "hevc_nvenc")


def test_keyframes_and_hls_tags_line_up_across_codecs(
    codec_settings: Settings, mixed_job: Job
) -> None:
    folder = job_dir(codec_settings, mixed_job.id)
    times = {r.profile: keyframe_times(folder / str(r.output)) for r in mixed_job.renditions}
    assert all(t == [0.0, 1.0, 2.0] for t in times.values()), times
    lines = (folder / str(mixed_job.master_playlist)).read_text().splitlines()
    codecs = {lines[i + 1].split("/")[0]: playlist_attributes(line)["CODECS"]
              for i, line in enumerate(lines) if line.startswith("#EXT-X-STREAM-INF:")}
    assert codecs["hevc-240p"].startswith("hvc1.2.4.L") and codecs["hevc-240p"].endswith(
        ".B0,mp4a.40.2")
    assert codecs["av1-180p"].startswith("av01.0.") and "M.08," in codecs["av1-180p"]
    assert codecs["h264-144p"].startswith("avc1.")  # ultrafast: constrained baseline, 42
    init = ffprobe(folder / "hls" / "hevc-240p" / "init.mp4")
    assert stream(init, "video")["codec_tag_string"] == "hvc1"  # type: ignore[index]


def test_one_dash_adaptation_set_per_codec_over_segments_that_start_on_shared_keyframes(
    codec_settings: Settings, mixed_job: Job, tmp_path: Path
) -> None:
    hls = job_dir(codec_settings, mixed_job.id) / "hls"
    representations = mpd_representations(hls / str(mixed_job.dash_manifest).split("/")[1])
    video = {r.id: r for r in representations if r.content_type == "video"}
    assert {r.codecs.split(".")[0] for r in video.values()} == {"hvc1", "av01", "avc1"}
    assert [r.content_type for r in representations].count("audio") == 1
    for representation in video.values():
        assert representation.starts_s == [0.0, 1.0, 2.0]
        assert abs(representation.seconds - SECONDS) < 1 / RATE
        init = hls / representation.init
        assert all(segment_starts_on_keyframe(init, hls / name, tmp_path)
                   for name in representation.media), representation.id


def test_a_chunked_av1_job_stitches_every_frame_of_the_source(
    codec_settings: Settings, codec_worker: WorkerProcess, source: Path
) -> None:
    job = wait_for_job(codec_settings, submit(codec_settings, source, profiles=["av1-180p"],
                                              hls=False, chunk_seconds=1).id, timeout=120)
    [rendition] = job.renditions
    assert (rendition.chunks, rendition.codec, rendition.state) == (3, "libsvtav1", "done")
    output = job_dir(codec_settings, job.id) / str(rendition.output)
    video = stream(ffprobe(output), "video")
    assert video is not None and video["codec_name"] == "av1"
    frames = int(video.get("nb_frames") or 0)
    assert frames == SECONDS * RATE, video


def test_a_rung_no_online_worker_can_encode_fails_the_job_with_a_sentence(
    codec_settings: Settings, source: Path, tmp_path: Path
) -> None:
    redis = start_redis(tmp_path / "redis")  # a cluster of its own: one worker without AV1
    try:
        settings = codec_settings.with_overrides(
            redis_url=redis.url, data_dir=tmp_path / "data", gpu="off",
            ffmpeg_bin=str(ffmpeg_without_av1(tmp_path / "ffmpeg")))
        worker = start_worker(settings, tmp_path, "no-av1")
        try:
            job = wait_for_job(settings, submit(settings, source).id, states=("failed",))
        finally:
            worker.stop()
    finally:
        redis.stop()
    assert job.error == ("No online worker can encode av1 (profile av1-180p): their FFmpeg "
                         "lacks the encoder.")
    assert job.renditions == []
