"""FFmpeg argv built for one rendition: input guards, progress, scaling, audio, codecs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from common.jobs import SourceInfo
from common.ladder import DEFAULT_LADDER, RenditionPlan
from workers.ffmpeg.commands import (
    EncodeOptions,
    Window,
    build_audio_hls_command,
    build_encode_command,
    build_hls_command,
    build_ladder_command,
    build_poster_command,
    build_stitch_command,
)
from workers.ffmpeg.probe import DEMUXER_WHITELIST
from workers.ffmpeg.quality import Measured, quality_command

SOURCE = Path("/data/uploads/abc.mp4")
OUTPUT = Path("/data/outputs/abc/480p.mp4")
LOW = DEFAULT_LADDER[2]


def info(has_audio: bool = True, audio_codec: str | None = "aac", fps: float = 25.0,
         width: int = 320, height: int = 240) -> SourceInfo:
    return SourceInfo(duration=2.0, width=width, height=height, video_codec="h264", fps=fps,
                      has_audio=has_audio, bitrate_kbps=300,
                      audio_codec=audio_codec if has_audio else None)


def command(codec: str = "libx264", source: SourceInfo | None = None,
            plan: RenditionPlan | None = None, **options: object) -> list[str]:
    return build_encode_command(SOURCE, source or info(), plan or RenditionPlan(LOW, 160, 120),
                                codec, OUTPUT, EncodeOptions(**options))  # type: ignore[arg-type]


def value(argv: list[str], option: str) -> str:
    return argv[argv.index(option) + 1]


@pytest.mark.parametrize("codec", ["libx264", "h264_nvenc", "h264_vaapi", "copy"])
def test_input_is_guarded_and_prefixed(codec: str) -> None:
    argv = command(codec)
    assert argv.count("-i") == 1
    i = argv.index("-i")
    assert argv[i + 1] == f"file:{SOURCE}"
    assert value(argv, "-protocol_whitelist") == "file"
    assert value(argv, "-format_whitelist") == DEMUXER_WHITELIST
    assert argv.index("-protocol_whitelist") < i and argv.index("-format_whitelist") < i
    assert "hls" not in DEMUXER_WHITELIST.split(",")
    assert "concat" not in DEMUXER_WHITELIST.split(",")


def test_progress_goes_to_stdout_without_stats() -> None:
    argv = command()
    assert value(argv, "-progress") == "pipe:1"
    assert "-nostats" in argv and "-nostdin" in argv and "-y" in argv


def test_output_is_a_faststart_mp4_without_metadata() -> None:
    argv = command()
    assert value(argv, "-movflags") == "+faststart"
    assert value(argv, "-f") == "mp4"
    assert value(argv, "-map_metadata") == "-1"
    assert str(OUTPUT) in argv


def test_scale_only_when_the_size_differs() -> None:
    scaled = command(plan=RenditionPlan(LOW, 160, 120))
    assert "scale=160:120[" in value(scaled, "-filter_complex") or \
        "scale=160:120," in value(scaled, "-filter_complex")
    assert "setsar=1" in value(scaled, "-filter_complex")  # square pixels, exact display size
    same = command(plan=RenditionPlan(LOW, 320, 240))
    assert "-filter_complex" not in same and "-vf" not in same
    assert not any("scale" in arg for arg in same)


def test_rate_control_and_gop_from_the_profile() -> None:
    argv = command(source=info(fps=30.0))
    assert (value(argv, "-b:v"), value(argv, "-maxrate"), value(argv, "-bufsize")) == (
        "1400k", "1498k", "2100k")
    assert value(argv, "-g") == "120"  # one segment (4 s): keyframes only on segment starts
    assert value(argv, "-force_key_frames") == "expr:gte(t,n_forced*4)"


def test_a_crf_profile_is_capped_crf_in_software_and_a_bitrate_in_hardware() -> None:
    capped = RenditionPlan(replace(LOW, crf=23), 160, 120)
    argv = command(plan=capped)
    assert value(argv, "-crf") == "23" and "-b:v" not in argv
    assert (value(argv, "-maxrate"), value(argv, "-bufsize")) == ("1498k", "2100k")
    hardware = command("h264_nvenc", plan=capped)
    assert "-crf" not in hardware and value(hardware, "-b:v") == "1400k"


def test_no_audio_stream_means_an() -> None:
    argv = command(source=info(has_audio=False))
    assert "-an" in argv
    assert "-c:a" not in argv
    assert "0:a:0" not in argv


@pytest.mark.parametrize("codec, audio_codec, expected", [
    ("copy", "aac", ["-c:a", "copy"]),
    ("copy", "opus", ["-c:a", "aac", "-b:a", "96k"]),
    ("copy", "pcm_s16le", ["-c:a", "aac", "-b:a", "96k"]),
    ("libx264", "aac", ["-c:a", "aac", "-b:a", "96k"]),
])
def test_audio_is_copied_only_for_a_stream_copy_of_mp4_audio(
        codec: str, audio_codec: str, expected: list[str]) -> None:
    plan = RenditionPlan(LOW, 320, 240, passthrough=codec == "copy")
    argv = command(codec, source=info(audio_codec=audio_codec), plan=plan)
    assert "0:a:0" in argv
    for option, wanted in zip(expected[::2], expected[1::2], strict=True):
        assert value(argv, option) == wanted


def test_stream_copy_copies_video_without_filters() -> None:
    argv = command("copy", plan=RenditionPlan(LOW, 320, 240, passthrough=True))
    assert value(argv, "-c:v") == "copy"
    assert "-filter_complex" not in argv and "-b:v" not in argv


def test_libx264_settings() -> None:
    argv = command("libx264", x264_threads=2)
    assert value(argv, "-c:v") == "libx264"
    assert value(argv, "-x264-params") == "scenecut=0"
    assert (value(argv, "-preset"), value(argv, "-profile:v")) == ("medium", "high")
    assert value(argv, "-pix_fmt") == "yuv420p"
    assert value(argv, "-threads") == "2"
    assert "-threads" not in command("libx264")


def _rung(codec: str, preset: str) -> RenditionPlan:
    return RenditionPlan(replace(LOW, codec=codec, preset=preset), 160, 120)


def test_libx265_keys_on_segments_and_tags_hvc1_for_apple_players() -> None:
    argv = command("libx265", plan=_rung("hevc", "fast"), x264_threads=2)
    assert (value(argv, "-c:v"), value(argv, "-preset"), value(argv, "-tag:v")) == (
        "libx265", "fast", "hvc1")
    params = value(argv, "-x265-params").split(":")
    assert {"scenecut=0", "open-gop=0", "pools=2"} <= set(params)
    assert value(argv, "-force_key_frames") == "expr:gte(t,n_forced*4)"
    assert (value(argv, "-pix_fmt"), value(argv, "-profile:v")) == ("yuv420p", "main")


def test_ten_bit_rungs_get_ten_bit_frames_and_the_main10_profile() -> None:
    hevc = RenditionPlan(replace(LOW, codec="hevc", preset="fast", bit_depth=10), 160, 120)
    argv = command("libx265", plan=hevc)
    assert (value(argv, "-pix_fmt"), value(argv, "-profile:v")) == ("yuv420p10le", "main10")
    assert value(command("hevc_nvenc", plan=hevc), "-profile:v") == "main10"
    av1 = RenditionPlan(replace(LOW, codec="av1", preset="8", bit_depth=10), 160, 120)
    assert value(command("libsvtav1", plan=av1), "-pix_fmt") == "yuv420p10le"


def test_libsvtav1_uses_its_numeric_preset_and_a_fixed_gop() -> None:
    argv = command("libsvtav1", plan=_rung("av1", "8"))
    assert (value(argv, "-c:v"), value(argv, "-preset")) == ("libsvtav1", "8")
    assert value(argv, "-svtav1-params") == "scd=0"
    assert value(argv, "-g") == "100" and value(argv, "-pix_fmt") == "yuv420p"
    assert "-tag:v" not in argv and "-x264-params" not in argv


def test_hevc_hardware_encoders_get_their_family_settings() -> None:
    nvenc = command("hevc_nvenc", plan=_rung("hevc", "medium"))
    assert (value(nvenc, "-forced-idr"), value(nvenc, "-tag:v")) == ("1", "hvc1")
    assert value(nvenc, "-profile:v") == "main"  # not an H.264 profile name
    vaapi = command("hevc_vaapi", plan=_rung("hevc", "medium"))
    assert "hwupload" in value(vaapi, "-filter_complex") and "-pix_fmt" not in vaapi


def test_a_copied_hevc_source_is_tagged_hvc1_and_h264_is_left_alone() -> None:
    hevc = RenditionPlan(replace(LOW, codec="hevc"), 320, 240, passthrough=True)
    assert value(command("copy", plan=hevc), "-tag:v") == "hvc1"
    assert "-tag:v" not in command("copy", plan=RenditionPlan(LOW, 320, 240, True))


def test_stitch_and_hls_keep_the_hvc1_tag() -> None:
    argv = build_stitch_command(Path("/w/chunks.ffconcat"), SOURCE, info(),
                                _rung("hevc", "medium"), OUTPUT, "ffmpeg")
    assert value(argv, "-tag:v") == "hvc1"
    hls = build_hls_command(OUTPUT, Path("/w/hls/480p/index.m3u8"), 4, "ffmpeg", "hvc1")
    assert value(hls, "-tag:v") == "hvc1"
    assert "-tag:v" not in build_hls_command(OUTPUT, Path("/w/i.m3u8"), 4, "ffmpeg")
    assert value(hls, "-map") == "0:v:0" and value(hls, "-c") == "copy"  # video track only


def test_the_audio_rendition_is_a_stream_copy_of_one_track() -> None:
    argv = build_audio_hls_command(OUTPUT, Path("/w/hls/audio/index.m3u8"), 4, "ffmpeg")
    assert value(argv, "-map") == "0:a:0" and value(argv, "-c") == "copy"
    assert value(argv, "-hls_segment_type") == "fmp4" and value(argv, "-f") == "hls"
    assert value(argv, "-hls_segment_filename") == "/w/hls/audio/seg_%05d.m4s"


def test_a_rendition_with_a_segment_folder_tees_its_encode_into_mp4_and_hls() -> None:
    folder = Path("/data/outputs/abc/hls/.480p.1234.tmp")
    argv = build_ladder_command(SOURCE, info(), [RenditionPlan(LOW, 160, 120)], "libx264",
                                [OUTPUT], EncodeOptions(), segments=[folder])
    assert value(argv, "-f") == "tee" and "-movflags" not in argv
    [spec] = [arg for arg in argv if arg.startswith("[f=mp4")]
    mp4, hls = spec.split("|")
    assert mp4 == f"[f=mp4:movflags=+faststart]{OUTPUT}"
    assert hls.startswith("[f=hls:select=v:hls_time=4:hls_playlist_type=vod:hls_segment_type=fmp4:")
    assert f"hls_segment_filename={folder}/seg_%05d.m4s" in hls
    assert hls.endswith(f"]{folder}/index.m3u8")
    assert argv.count("-map") == 2  # video and audio, mapped explicitly for tee
    assert value(argv, "-flags") == "+global_header"  # the encoders' headers for both muxers
    chunk = build_ladder_command(SOURCE, info(), [RenditionPlan(LOW, 160, 120)], "libx264",
                                 [OUTPUT], EncodeOptions(), Window(2.0, 2.0), [folder])
    assert value(chunk, "-f") == "mp4"  # a slice is packaged after the stitch, never here


def test_the_audio_carrier_tees_its_aac_stream_into_the_audio_rendition_too() -> None:
    video, audio = Path("/o/hls/.720p.1.tmp"), Path("/o/hls/.audio.2.tmp")
    plans = [RenditionPlan(LOW, 160, 120), RenditionPlan(replace(LOW, name="96p"), 128, 96)]
    argv = build_ladder_command(SOURCE, info(), plans, "libx264", [OUTPUT, OUTPUT],
                                EncodeOptions(), segments=[video, video],
                                audio_segments=[audio, None])
    carrier, other = [arg for arg in argv if arg.startswith("[f=mp4")]
    assert carrier.count("|") == 2 and other.count("|") == 1
    audio_slave = carrier.split("|")[2]
    assert audio_slave.startswith("[f=hls:select=a:hls_time=4:")
    assert f"hls_segment_filename={audio}/seg_%05d.m4s" in audio_slave
    assert audio_slave.endswith(f"]{audio}/index.m3u8")
    silent = build_ladder_command(SOURCE, info(has_audio=False), plans[:1], "libx264", [OUTPUT],
                                  EncodeOptions(), segments=[video], audio_segments=[audio])
    [spec] = [arg for arg in silent if arg.startswith("[f=mp4")]
    assert spec.count("|") == 1  # no audio stream, no audio rendition


def test_nvenc_forces_idr_keyframes() -> None:
    argv = command("h264_nvenc")
    assert value(argv, "-c:v") == "h264_nvenc"
    assert value(argv, "-forced-idr") == "1"
    assert "-x264-params" not in argv


def test_vaapi_initialises_its_device_and_uploads_frames() -> None:
    argv = command("h264_vaapi")
    assert value(argv, "-init_hw_device") == "vaapi=va:/dev/dri/renderD128"
    assert value(argv, "-filter_hw_device") == "va"
    assert "format=nv12" in value(argv, "-filter_complex")
    assert "hwupload" in value(argv, "-filter_complex")
    assert "-init_hw_device" not in command("libx264")


def test_ladder_command_splits_one_decode_into_every_output() -> None:
    plans = [RenditionPlan(DEFAULT_LADDER[1], 640, 480), RenditionPlan(LOW, 160, 120)]
    outputs = [Path("/o/a.mp4"), Path("/o/b.mp4")]
    argv = build_ladder_command(SOURCE, info(width=640, height=480), plans, "libx264", outputs,
                                EncodeOptions(ffmpeg_bin="/opt/ffmpeg"))
    assert argv[0] == "/opt/ffmpeg"
    assert argv.count("-i") == 1
    graph = value(argv, "-filter_complex")
    assert "split=2" in graph and "scale=160:120" in graph and "scale=640:480" not in graph
    assert all(str(o) in argv for o in outputs)
    assert argv.count("-movflags") == 2


def test_poster_command_is_guarded_too() -> None:
    argv = build_poster_command(OUTPUT, Path("/o/poster.jpg"), 1.5, "ffmpeg")
    assert argv.index("-protocol_whitelist") < argv.index("-i")
    assert value(argv, "-i") == f"file:{OUTPUT}"
    assert argv.index("-ss") < argv.index("-i")  # a seek, not a decode of every frame before
    assert value(argv, "-ss") == "1.500000"


def test_stitch_command_copies_video_and_encodes_the_audio_once() -> None:
    listing = Path("/data/outputs/abc/.chunks/480p/chunks.ffconcat")
    argv = build_stitch_command(listing, SOURCE, info(), RenditionPlan(LOW, 160, 120), OUTPUT,
                                "ffmpeg")
    assert argv[argv.index("-f") + 1] == "concat" and value(argv, "-safe") == "1"
    assert value(argv, "-i") == str(listing)
    assert f"file:{SOURCE}" in argv  # the audio, from the guarded source
    assert value(argv, "-protocol_whitelist") == "file"
    assert value(argv, "-c:v") == "copy" and value(argv, "-c:a") == "aac"
    assert value(argv, "-b:a") == f"{LOW.audio_bitrate_kbps}k"
    assert str(OUTPUT) in argv and argv[-1] == "-y"


def test_stitch_command_without_audio_reads_only_the_chunks() -> None:
    argv = build_stitch_command(Path("/x/chunks.ffconcat"), SOURCE, info(has_audio=False),
                                RenditionPlan(LOW, 160, 120), OUTPUT, "ffmpeg")
    assert f"file:{SOURCE}" not in argv and "-c:a" not in argv


def test_hls_command_cuts_fmp4_segments_without_encoding() -> None:
    playlist = Path("/data/outputs/abc/hls/.480p.tmp/index.m3u8")
    argv = build_hls_command(OUTPUT, playlist, 4, "ffmpeg")
    assert value(argv, "-i") == f"file:{OUTPUT}" and value(argv, "-c") == "copy"
    assert value(argv, "-hls_time") == "4" and value(argv, "-hls_segment_type") == "fmp4"
    assert value(argv, "-hls_playlist_type") == "vod"
    assert value(argv, "-hls_segment_filename") == str(playlist.parent / "seg_%05d.m4s")
    assert str(playlist) in argv and argv[-1] == "-y"


def test_quality_command_scales_the_source_to_the_rendition() -> None:
    argv = quality_command([Measured(OUTPUT, 160, 120)], SOURCE, "ffmpeg")
    inputs = [argv[i + 1] for i, a in enumerate(argv) if a == "-i"]
    assert inputs == [f"file:{OUTPUT}", f"file:{SOURCE}"]
    assert value(argv, "-format_whitelist") == DEMUXER_WHITELIST
    graph = value(argv, "-lavfi")
    assert "[1:v]split=1[s0]" in graph and "[s0]scale=160:120" in graph
    assert "ssim@q0" in graph and "psnr@q0" in graph
    assert argv[-3:] == ["-f", "null", "-"]


def test_quality_command_decodes_the_source_once_for_every_rendition() -> None:
    low = OUTPUT.with_name("low.mp4")
    argv = quality_command([Measured(OUTPUT, 640, 360), Measured(low, 160, 120)], SOURCE,
                           "ffmpeg")
    inputs = [argv[i + 1] for i, a in enumerate(argv) if a == "-i"]
    assert inputs == [f"file:{OUTPUT}", f"file:{low}", f"file:{SOURCE}"]
    assert argv.count("-format_whitelist") == 1  # only the source is user input
    graph = value(argv, "-lavfi")
    assert graph.startswith("[2:v]split=2[s0][s1]")
    assert "[s0]scale=640:360" in graph and "[s1]scale=160:120" in graph
    assert "[0:v]format=yuv420p" in graph and "[1:v]format=yuv420p" in graph
    assert all(f"{kind}@q{i}" in graph for kind in ("ssim", "psnr") for i in (0, 1))


def test_a_slice_cut_mid_segment_keeps_the_global_segment_keyframes() -> None:
    plan = RenditionPlan(LOW, 160, 120)
    argv = build_ladder_command(SOURCE, info(), [plan], "libx264", [OUTPUT], EncodeOptions(),
                                Window(10.0, 10.0))
    assert value(argv, "-force_key_frames") == "expr:gte(t,n_forced*4-2.000000)"
    aligned = build_ladder_command(SOURCE, info(), [plan], "libx264", [OUTPUT], EncodeOptions(),
                                   Window(8.0, 4.0))
    assert value(aligned, "-force_key_frames") == "expr:gte(t,n_forced*4)"
