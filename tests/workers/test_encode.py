"""encode_rendition with real FFmpeg: codec order, fallbacks, stops, atomic outputs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from common.jobs import Fallback, SourceInfo
from common.ladder import Profile, RenditionPlan
from tests.support.media import ffprobe, make_clip, stream
from tests.workers.test_hardware_encoders import libcuda_loads
from workers.ffmpeg.commands import EncodeOptions
from workers.ffmpeg.encode import (
    EncodeFailed,
    EncodeStopped,
    EncodeTarget,
    codec_chain,
    encode_group,
    encode_rendition,
    temp_path,
)
from workers.ffmpeg.encoders import listed_hardware_encoders
from workers.ffmpeg.outputs import verify_output
from workers.ffmpeg.probe import probe_source

PROFILE = Profile("96p", 96, video_bitrate_kbps=100, maxrate_kbps=110, bufsize_kbps=200,
                  audio_bitrate_kbps=48, preset="ultrafast")
OPTIONS = EncodeOptions(x264_threads=1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("encode") / "tiny.mp4", seconds=1.0,
                     size="160x120")


@pytest.fixture(scope="module")
def tiny_info(tiny: Path) -> SourceInfo:
    return probe_source(tiny)


def plan(passthrough: bool = False) -> RenditionPlan:
    return RenditionPlan(PROFILE, 128, 96, passthrough=passthrough)


def files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_codec_chain_order() -> None:
    hardware = ["h264_nvenc", "h264_vaapi"]
    assert codec_chain(plan(), hardware) == ["h264_nvenc", "h264_vaapi", "libx264"]
    assert codec_chain(plan(passthrough=True), hardware) == [
        "copy", "h264_nvenc", "h264_vaapi", "libx264"]
    assert codec_chain(plan(), []) == ["libx264"]
    assert codec_chain(plan(), hardware, copy_only=True) == ["copy"]
    assert codec_chain(plan(passthrough=True), [], copy_only=True) == ["copy"]


def test_each_codec_tries_its_own_hardware_then_its_software_encoder() -> None:
    hardware = ["h264_nvenc", "hevc_nvenc", "hevc_vaapi", "av1_qsv"]

    def chain(codec: str) -> list[str]:
        return codec_chain(RenditionPlan(replace(PROFILE, codec=codec), 128, 96), hardware)

    assert chain("h264") == ["h264_nvenc", "libx264"]
    assert chain("hevc") == ["hevc_nvenc", "hevc_vaapi", "libx265"]
    assert chain("av1") == ["av1_qsv", "libsvtav1"]


def test_temp_path_is_hidden_beside_the_output(tmp_path: Path) -> None:
    output = tmp_path / "720p.mp4"
    first, second = temp_path(output), temp_path(output)
    assert first.parent == tmp_path and first != second
    assert first.name.startswith(".720p.") and first.name.endswith(".part.mp4")


@pytest.mark.skipif("h264_nvenc" not in listed_hardware_encoders() or libcuda_loads(),
                    reason="needs an FFmpeg that lists h264_nvenc on a machine without libcuda")
def test_failing_nvenc_falls_back_to_libx264(tmp_path: Path, tiny: Path,
                                             tiny_info: SourceInfo) -> None:
    output = tmp_path / "out" / "96p.mp4"
    attempts: list[tuple[str, list[Fallback]]] = []
    progress: list[float] = []
    result = encode_rendition(tiny, tiny_info, plan(), output, ["h264_nvenc", "libx264"],
                              options=OPTIONS, on_attempt=lambda c, f: attempts.append((c, f)),
                              on_progress=lambda p: progress.append(p.percent(1.0)))
    assert result.codec == "libx264" and not result.passthrough
    assert len(result.fallbacks) == 1
    assert result.fallbacks[0].codec == "h264_nvenc"
    assert "libcuda" in result.fallbacks[0].error
    assert [a[0] for a in attempts] == ["h264_nvenc", "libx264"]
    assert attempts[1][1] == result.fallbacks
    assert (result.output, result.width, result.height) == (output, 128, 96)
    assert result.size_bytes == output.stat().st_size > 0
    assert result.duration_s == pytest.approx(1.0, abs=0.2)
    assert progress and progress[-1] == 100.0
    assert files(output.parent) == ["96p.mp4"]  # no .part file left
    info = ffprobe(output)
    video, audio = stream(info, "video"), stream(info, "audio")
    assert video is not None and (video["codec_name"], video["width"]) == ("h264", 128)
    assert audio is not None and audio["codec_name"] == "aac"


def _top_level_boxes(path: Path) -> list[str]:
    data, boxes, offset = path.read_bytes(), [], 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset:offset + 4], "big")
        boxes.append(data[offset + 4:offset + 8].decode("latin-1"))
        offset += size if size >= 8 else len(data)
    return boxes


def test_the_encode_writes_the_hls_segments_beside_the_faststart_mp4(
    tmp_path: Path, tiny: Path, tiny_info: SourceInfo
) -> None:
    """One FFmpeg, two muxers (tee): no second pass over the finished file."""
    output, segments = tmp_path / "96p.mp4", tmp_path / "hls" / "96p"
    options = replace(OPTIONS, segment_seconds=1)
    [result] = encode_group(tiny, tiny_info, [EncodeTarget(plan(), output, segments)],
                            ["libx264"], options=options)
    assert result.segments == segments
    assert sorted(p.name for p in segments.iterdir()) == ["index.m3u8", "init.mp4",
                                                          "seg_00000.m4s"]
    assert files(tmp_path / "hls") == ["96p"]  # the staging folder is gone
    boxes = _top_level_boxes(output)
    assert boxes.index("moov") < boxes.index("mdat")  # faststart, as before
    playlist = (segments / "index.m3u8").read_text()
    assert "#EXT-X-MAP:URI=\"init.mp4\"" in playlist and "#EXT-X-ENDLIST" in playlist
    joined = tmp_path / "joined.mp4"
    joined.write_bytes((segments / "init.mp4").read_bytes()
                       + (segments / "seg_00000.m4s").read_bytes())
    info = ffprobe(joined)  # video only: the job's audio is a rendition of its own
    assert stream(info, "video") is not None and stream(info, "audio") is None
    assert stream(ffprobe(output), "audio") is not None  # the MP4 download keeps its sound


def test_a_failed_encoder_leaves_no_segments_behind(
    tmp_path: Path, tiny: Path, tiny_info: SourceInfo
) -> None:
    output, segments = tmp_path / "96p.mp4", tmp_path / "hls" / "96p"
    [result] = encode_group(tiny, tiny_info, [EncodeTarget(plan(), output, segments)],
                            ["no_such_encoder", "libx264"], options=OPTIONS)
    assert [f.codec for f in result.fallbacks] == ["no_such_encoder"]
    assert files(tmp_path / "hls") == ["96p"] and result.segments == segments


def test_a_stopped_encode_leaves_no_hls_folder(
    tmp_path: Path, tiny: Path, tiny_info: SourceInfo
) -> None:
    output, segments = tmp_path / "out" / "96p.mp4", tmp_path / "out" / "hls" / "96p"
    with pytest.raises(EncodeStopped):
        encode_group(tiny, tiny_info, [EncodeTarget(plan(), output, segments)], ["libx264"],
                     options=OPTIONS, on_tick=lambda: False)
    assert files(tmp_path / "out") == []  # neither the MP4 nor hls/ is left


def test_a_staging_folder_that_cannot_be_made_leaves_none_of_the_others(
    tmp_path: Path, tiny: Path, tiny_info: SourceInfo
) -> None:
    """The second rendition's HLS folder sits under a file, so its staging folder fails after
    the first one's was made: the encode never starts and nothing is left behind."""
    (tmp_path / "blocked").write_text("a file where a folder should be")
    targets = [EncodeTarget(plan(), tmp_path / "a.mp4", tmp_path / "hls" / "a"),
               EncodeTarget(plan(), tmp_path / "b.mp4", tmp_path / "blocked" / "hls" / "b")]
    with pytest.raises(NotADirectoryError):
        encode_group(tiny, tiny_info, targets, ["libx264"], options=OPTIONS)
    assert files(tmp_path) == ["blocked"]  # neither hls/ nor its staging folder, no output


def test_stream_copy_of_a_fitting_source(tmp_path: Path, tiny: Path,
                                         tiny_info: SourceInfo) -> None:
    source_plan = RenditionPlan(PROFILE, 160, 120, passthrough=True)
    output = tmp_path / "source.mp4"
    result = encode_rendition(tiny, tiny_info, source_plan, output,
                              codec_chain(source_plan, [], copy_only=True), options=OPTIONS)
    assert result.passthrough and (result.width, result.height) == (160, 120)
    assert files(tmp_path) == ["source.mp4"]


def test_only_failing_encoders_raise_with_every_fallback(tmp_path: Path, tiny: Path,
                                                         tiny_info: SourceInfo) -> None:
    """An H.264 profile no encoder knows makes every codec fail, GPU or not."""
    bogus = RenditionPlan(Profile("96p", 96, 100, 110, 200, h264_profile="bogus"), 128, 96)
    output = tmp_path / "out" / "96p.mp4"
    codecs = ["no_such_encoder", "h264_nvenc", "libx264"]
    with pytest.raises(EncodeFailed) as caught:
        encode_rendition(tiny, tiny_info, bogus, output, codecs, options=OPTIONS)
    assert [f.codec for f in caught.value.fallbacks] == codecs
    assert all(f.error for f in caught.value.fallbacks)
    assert "no_such_encoder" in caught.value.fallbacks[0].error
    message = str(caught.value)
    assert message.startswith("Every encoder failed: no_such_encoder (")
    assert "h264_nvenc (" in message and "libx264 (" in message and message.endswith(".")
    assert files(output.parent) == []


def test_on_tick_false_stops_and_leaves_nothing(tmp_path: Path, tiny: Path,
                                                tiny_info: SourceInfo) -> None:
    slow = tmp_path / "slow.mp4"
    make_clip(slow, seconds=30.0, size="640x480", audio=False)
    slow_info = probe_source(slow)
    output = tmp_path / "out" / "96p.mp4"
    listings: list[list[str]] = []

    def tick() -> bool:  # stop once FFmpeg has started writing its temporary file
        listings.append(files(output.parent))
        return not any(".part" in name for name in listings[-1]) and len(listings) < 40

    with pytest.raises(EncodeStopped):
        encode_rendition(slow, slow_info, RenditionPlan(PROFILE, 128, 96), output,
                         ["libx264"], options=EncodeOptions(), on_tick=tick)
    [partial] = listings[-1]
    assert partial.startswith(".96p.") and partial.endswith(".part.mp4")
    assert files(output.parent) == []


def test_verify_output_rejects_the_wrong_size(tmp_path: Path, tiny: Path,
                                              tiny_info: SourceInfo) -> None:
    assert verify_output(tiny, RenditionPlan(PROFILE, 160, 120), tiny_info, "libx264",
                         "ffprobe")[:2] == (160, 120)
    with pytest.raises(ValueError, match="the output is 160x120, not 128x96"):
        verify_output(tiny, plan(), tiny_info, "libx264", "ffprobe")


def test_verify_output_rejects_missing_audio_and_wrong_duration(
        tmp_path: Path, tiny: Path, tiny_info: SourceInfo) -> None:
    silent = make_clip(tmp_path / "silent.mp4", seconds=1.0, size="160x120", audio=False)
    same_size = RenditionPlan(PROFILE, 160, 120)
    with pytest.raises(ValueError, match="audio does not match"):
        verify_output(silent, same_size, tiny_info, "libx264", "ffprobe")
    longer = SourceInfo(**{**tiny_info.__dict__, "duration": 5.0})
    with pytest.raises(ValueError, match="lasts"):
        verify_output(tiny, same_size, longer, "libx264", "ffprobe")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\0" * 4096)
    with pytest.raises(ValueError, match="cannot be read back"):
        verify_output(garbage, same_size, tiny_info, "libx264", "ffprobe")
