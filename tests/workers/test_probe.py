"""probe_source on real clips and on uploads that are not videos (or are hostile)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.media import logging_tool, make_clip, make_duration_bomb
from workers.ffmpeg import probe
from workers.ffmpeg.probe import (
    ProbeError,
    probe_source,
    run_ffprobe,
    run_ffprobes,
    source_info,
)


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True,
                   timeout=60)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1 s 160x120 at 25 fps, H.264 + AAC."""
    return make_clip(tmp_path_factory.mktemp("probe") / "small.mp4", seconds=1.0,
                     size="160x120")


def test_facts_of_a_clip_with_sound(small: Path) -> None:
    info = probe_source(small)
    assert info.duration == pytest.approx(1.0, abs=0.1)
    assert (info.width, info.height, info.fps) == (160, 120, 25.0)
    assert (info.video_codec, info.has_audio, info.audio_codec) == ("h264", True, "aac")
    assert info.pix_fmt == "yuv420p"
    assert info.frames == 25
    assert "mp4" in info.format_name
    assert info.bitrate_kbps is not None and info.bitrate_kbps > 0


def test_facts_of_a_silent_matroska_clip(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "silent.mkv", seconds=1.0, size="176x144", rate=30, audio=False)
    info = probe_source(path)
    assert (info.width, info.height, info.fps) == (176, 144, 30.0)
    assert (info.has_audio, info.audio_codec, info.video_codec) == (False, None, "h264")
    assert info.duration == pytest.approx(1.0, abs=0.1)
    assert "matroska" in info.format_name


def assert_refused(path: Path, *fragments: str, **kwargs: object) -> str:
    with pytest.raises(ProbeError) as caught:
        probe_source(path, **kwargs)  # type: ignore[arg-type]
    message = str(caught.value)
    assert message.endswith("."), message
    assert message[0].isupper(), message
    assert "Traceback" not in message and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_missing_and_empty_files(tmp_path: Path) -> None:
    assert_refused(tmp_path / "gone.mp4", "missing")
    (tmp_path / "empty.mp4").write_bytes(b"")
    assert_refused(tmp_path / "empty.mp4", "empty (0 bytes)")


def test_text_named_mp4(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("these are my notes, not a video\n" * 20)
    assert_refused(path, "not a video file")


def test_truncated_mp4(tmp_path: Path, small: Path) -> None:
    path = tmp_path / "truncated.mp4"
    path.write_bytes(small.read_bytes()[:3000])
    assert_refused(path, "not a video file")


def test_audio_only_file(tmp_path: Path) -> None:
    path = tmp_path / "a.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=1", str(path))
    assert_refused(path, "audio-only")


def test_still_png_image_even_renamed(tmp_path: Path) -> None:
    png = tmp_path / "x.png"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120", "-frames:v", "1", str(png))
    assert_refused(png)
    assert_refused(Path(shutil.copyfile(png, tmp_path / "x.mp4")))


def test_hls_playlist_reading_local_files_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.m3u8"
    path.write_text("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n"
                    "#EXT-X-ENDLIST\n")
    message = assert_refused(path, "not a video file")
    assert "root:" not in message


def test_playlists_that_plain_ffprobe_would_follow_are_refused(tmp_path: Path) -> None:
    """Valid playlists of a real local segment: FFmpeg follows them unless whitelisted out."""
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:duration=1", "-c:v", "libx264",
           "-preset", "ultrafast", "-f", "mpegts", str(tmp_path / "seg.ts"))
    hls = tmp_path / "ok.m3u8"
    hls.write_text("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXTINF:1.0,\nseg.ts\n"
                   "#EXT-X-ENDLIST\n")
    concat = tmp_path / "list.ffconcat"
    concat.write_text("ffconcat version 1.0\nfile seg.ts\n")
    for playlist in (hls, concat):
        plain = subprocess.run(["ffprobe", "-v", "error", "-show_streams", str(playlist)],
                               capture_output=True, text=True, timeout=60)
        assert "codec_type=video" in plain.stdout, plain.stderr  # unguarded: followed
        assert_refused(playlist, "not a video file")


def test_playlist_disguised_as_avi(tmp_path: Path) -> None:
    path = tmp_path / "movie.avi"
    path.write_text("#EXTM3U\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n")
    assert_refused(path, "not a video file")
    concat = tmp_path / "movie.mp4"
    concat.write_text("ffconcat version 1.0\nfile /etc/passwd\n")
    assert_refused(concat, "not a video file")


def test_frame_size_limit(small: Path) -> None:
    assert_refused(small, "160x120", "larger than this cluster accepts", max_pixels=160 * 119)
    assert probe_source(small, max_pixels=160 * 120).width == 160


@pytest.mark.parametrize("data, fragment", [
    ({"streams": [], "format": {}}, "no video stream"),
    ({"streams": [{"codec_type": "video", "width": 0, "height": 0}]}, "no frame size"),
    ({"streams": [{"codec_type": "video", "width": 64, "height": 64,
                   "disposition": {"attached_pic": 1}}]}, "no video stream"),
    ({"streams": [{"codec_type": "video", "width": 64, "height": 64}], "format": {}},
     "still image"),
])
def test_source_info_sentences(data: dict[str, object], fragment: str) -> None:
    with pytest.raises(ProbeError, match=fragment) as caught:
        source_info(data, max_pixels=10**8)
    assert str(caught.value).endswith(".")


def test_audio_timing_says_whether_a_seek_finds_every_sample(tmp_path: Path) -> None:
    exact = make_clip(tmp_path / "exact.mp4", seconds=1)  # MP4: audio ticks are samples
    rough = tmp_path / "rough.mkv"  # Matroska: milliseconds
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(exact), "-c", "copy", str(rough)],
                   check=True)
    late = tmp_path / "late.ts"  # MPEG-TS here: the audio starts before the video
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(exact), "-c", "copy", str(late)],
                   check=True)
    info = probe_source(exact)
    assert (info.audio_rate, info.audio_sample_exact) == (48_000, True)
    assert (probe_source(rough).audio_rate, probe_source(rough).audio_sample_exact) == (
        48_000, False)
    assert not probe_source(late).audio_sample_exact


def test_ffprobe_timeout_is_a_sentence(small: Path) -> None:
    with pytest.raises(ProbeError, match="took longer than") as caught:
        probe_source(small, timeout_s=1e-6)
    assert str(caught.value).endswith(".")


REPORTS_ITS_PRIORITY = """#!{python}
import json, os
autogroup = open("/proc/self/autogroup").read().split()[-1] if os.path.exists(
    "/proc/self/autogroup") else None
print(json.dumps({{"format": {{}}, "streams": [], "nice": os.nice(0),
                  "own_session": os.getsid(0) == os.getpid(), "autogroup_nice": autogroup}}))
"""


def test_ffprobe_runs_in_its_own_session_at_the_niceness_it_is_given(tmp_path: Path) -> None:
    """ffprobe yields like FFmpeg: its own session (so its own autogroup) at FFmpeg's nice."""
    fake = tmp_path / "ffprobe"
    fake.write_text(REPORTS_ITS_PRIORITY.format(python=sys.executable))
    fake.chmod(0o755)
    seen = run_ffprobe(tmp_path / "any.mp4", str(fake), nice=7)
    assert seen["nice"] == min(19, os.nice(0) + 7)
    assert seen["own_session"] is True
    if seen["autogroup_nice"] is not None:
        assert seen["autogroup_nice"] == "7"


WAITS_FOR_ITS_PEERS = """#!{python}
import json, pathlib, sys, time
folder = pathlib.Path({folder!r})
(folder / pathlib.Path(sys.argv[-1].removeprefix("file:")).name).touch()
deadline = time.monotonic() + 20
while len(list(folder.iterdir())) < {count} and time.monotonic() < deadline:
    time.sleep(0.01)
if len(list(folder.iterdir())) < {count}:
    sys.exit("the other ffprobes never started")
print(json.dumps({{"format": {{"name": sys.argv[-1]}}, "streams": []}}))
"""


def test_several_ffprobes_run_side_by_side_and_answer_in_order(tmp_path: Path,
                                                                small: Path) -> None:
    """Each fake ffprobe answers only once all three have started: run one after another,
    the first would give up; a file that is not a video is its own ProbeError."""
    started = tmp_path / "started"
    started.mkdir()
    fake = tmp_path / "ffprobe"
    fake.write_text(WAITS_FOR_ITS_PEERS.format(python=sys.executable, folder=str(started),
                                               count=3))
    fake.chmod(0o755)
    paths = [tmp_path / f"{name}.mp4" for name in ("a", "b", "c")]
    seen = run_ffprobes(paths, str(fake), timeout_s=30)
    assert [s["format"]["name"] for s in seen if isinstance(s, dict)] == [
        f"file:{p}" for p in paths]
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\0" * 4096)
    real = run_ffprobes([small, garbage], timeout_s=30)
    assert isinstance(real[0], dict) and real[0]["streams"][0]["codec_type"] == "video"
    assert isinstance(real[1], ProbeError) and "not a video file" in str(real[1])


@pytest.mark.parametrize("one_pass_bytes", [probe.ONE_PASS_PROBE_BYTES, 0],
                         ids=["small upload: one ffprobe", "big upload: end read apart"])
def test_a_forged_duration_is_caught_whether_the_end_is_read_in_one_pass_or_two(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_pass_bytes: int) -> None:
    monkeypatch.setattr(probe, "ONE_PASS_PROBE_BYTES", one_pass_bytes)
    fake, log = logging_tool(tmp_path, "ffprobe")
    bomb = make_duration_bomb(tmp_path / "bomb.mp4")
    with pytest.raises(ProbeError, match=r"header says it lasts 100:00:00, but its streams "
                                         r"end at 5.0 s"):
        probe_source(bomb, ffprobe_bin=str(fake))
    calls = log.read_text().splitlines()
    assert len(calls) == (1 if one_pass_bytes else 2)
    if not one_pass_bytes:  # the second read starts 30 s before the claimed 100 hours
        assert f"-read_intervals {100 * 3600 - 30:.3f}%+#6000" in calls[1]


def test_a_small_upload_is_described_and_read_to_its_end_by_one_ffprobe(
        tmp_path: Path, small: Path) -> None:
    fake, log = logging_tool(tmp_path, "ffprobe")
    info = probe_source(small, ffprobe_bin=str(fake))
    assert info.duration == pytest.approx(1.0, abs=0.1) and info.width == 160
    [call] = log.read_text().splitlines()
    assert "-show_streams" in call and "-read_intervals %+#6000" in call


def test_a_small_uploads_probe_says_where_its_last_keyframe_is(tmp_path: Path,
                                                               small: Path) -> None:
    short_gops = make_clip(tmp_path / "gop10.mp4", seconds=2.0, size="160x120", extra=["-g", "10"])
    assert probe_source(small).last_keyframe_s == 0.0  # one GOP: x264 puts 250 frames in one
    assert probe_source(short_gops).last_keyframe_s == pytest.approx(1.6, abs=0.01)


def test_a_big_uploads_probe_does_not_claim_to_know_its_keyframes(
        small: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probe, "ONE_PASS_PROBE_BYTES", 0)  # read apart: not every packet
    assert probe_source(small).last_keyframe_s is None
