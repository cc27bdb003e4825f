"""Build FFmpeg command lines with ffmpeg-python: one per (rendition, codec) attempt."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import ffmpeg

from common.codecs import family_of
from common.jobs import SourceInfo
from common.ladder import Profile, RenditionPlan
from workers.ffmpeg.probe import DEMUXER_WHITELIST, PROTOCOL_WHITELIST

COPY = "copy"
SOFTWARE_H264 = "libx264"
VAAPI_DEVICE = "/dev/dri/renderD128"
MP4_AUDIO_CODECS = ("aac", "mp3", "ac3", "eac3", "alac")
PROGRESS_ARGS = ("-progress", "pipe:1", "-nostats", "-stats_period", "0.25")


@dataclass(frozen=True)
class EncodeOptions:
    """Machine-level knobs that do not belong to a profile."""

    ffmpeg_bin: str = "ffmpeg"
    x264_threads: int = 0
    segment_seconds: int = 4
    """Keyframes are forced on multiples of this, in every rendition, so HLS segments align."""
    max_pixels: int = 0
    """Largest frame (width x height) the decoder may produce; 0: FFmpeg's own limit."""


@dataclass(frozen=True)
class Window:
    """A time slice of the source (split-and-stitch): video only, frame-accurate seek."""

    start_s: float
    duration_s: float


@dataclass(frozen=True)
class AudioWindow:
    """A time slice of the source's audio, sample-accurate; no duration: to the end."""

    start_s: float
    duration_s: float | None


def _input(source: Path, start_s: float = 0.0, max_pixels: int = 0,
           duration_s: float | None = None, keyframes_only: bool = False) -> Any:
    """The guarded input, seeking to ``start_s`` before decoding (accurate to the frame, and
    to the sample for audio); ``duration_s`` reads only that much of it; ``keyframes_only``
    decodes no other picture."""
    options: dict[str, Any] = {"skip_frame": "nokey"} if keyframes_only else {}
    if start_s:
        options["ss"] = f"{start_s:.6f}"
    if duration_s is not None:
        options["t"] = f"{duration_s:.6f}"
    if max_pixels:  # checked on every decoded frame, not only the first one ffprobe saw
        options["max_pixels"] = max_pixels
    return ffmpeg.input(f"file:{source}", protocol_whitelist=PROTOCOL_WHITELIST,
                        format_whitelist=DEMUXER_WHITELIST, **options)


def _audio_args(source: SourceInfo, plan: RenditionPlan, codec: str) -> dict[str, Any]:
    if not source.has_audio:
        return {"an": None}
    if codec == COPY and source.audio_codec in MP4_AUDIO_CODECS:
        return {"c:a": "copy"}
    return aac_args(plan.profile.audio_bitrate_kbps)


def aac_args(kbps: int) -> dict[str, Any]:
    """The one AAC encode every rendition's audio gets (stereo at the profile's bitrate)."""
    return {"c:a": "aac", "b:a": f"{kbps}k", "ac": 2}


def video_args(source: SourceInfo, plan: RenditionPlan, codec: str,
                options: EncodeOptions) -> dict[str, Any]:
    profile = plan.profile
    gop = max(1, round((source.fps or 25.0) * options.segment_seconds))
    args: dict[str, Any] = {
        "c:v": codec, "b:v": f"{profile.video_bitrate_kbps}k",
        "maxrate": f"{profile.maxrate_kbps}k", "bufsize": f"{profile.bufsize_kbps}k", "g": gop,
        "force_key_frames": f"expr:gte(t,n_forced*{options.segment_seconds})",
    }
    if not codec.endswith(("_vaapi", "_qsv")):  # hardware frames carry their own format
        args["pix_fmt"] = profile.pix_fmt  # 4:2:0; 8-bit unless the rung asks for 10
    if profile.crf is not None and codec in CAPPED_CRF_ENCODERS:
        del args["b:v"]  # constant quality, the peak and buffer still capped by VBV
        args["crf"] = profile.crf
        if codec == "libsvtav1":  # FFmpeg 5.1's SVT-AV1 wrapper caps no CRF encode
            del args["maxrate"], args["bufsize"]
    args.update(_ENCODER_ARGS.get(codec, _no_args)(profile, options))
    return args


CAPPED_CRF_ENCODERS = ("libx264", "libx265", "libsvtav1")
"""The encoders a profile's ``crf`` applies to; hardware encoders keep the bitrate."""


def _tag_args(plan: RenditionPlan) -> dict[str, Any]:
    """The sample entry the rung's codec wants in MP4 and fMP4 (``hvc1`` for HEVC), whether
    the video is encoded, copied or joined."""
    tag = family_of(plan.profile.codec).mp4_tag
    return {"tag:v": tag} if tag else {}


def _no_args(profile: Profile, options: EncodeOptions) -> dict[str, Any]:
    return {}


def _libx264(profile: Profile, options: EncodeOptions) -> dict[str, Any]:
    args: dict[str, Any] = {"preset": profile.preset, "profile:v": profile.h264_profile,
                            "x264-params": "scenecut=0"}
    if options.x264_threads:
        args["threads"] = options.x264_threads
    return args


def _libx265(profile: Profile, options: EncodeOptions) -> dict[str, Any]:
    params = "scenecut=0:open-gop=0:log-level=error"
    if options.x264_threads:  # the same knob: software encoder threads per encode
        params += f":pools={options.x264_threads}:frame-threads=1"
    return {"preset": profile.preset, "profile:v": "main10" if profile.bit_depth == 10 else "main",
            "x265-params": params}


def _libsvtav1(profile: Profile, options: EncodeOptions) -> dict[str, Any]:
    # SVT-AV1 keys on the fixed GOP (scene-change detection off) and honours forced frames.
    return {"preset": profile.preset, "svtav1-params": "scd=0"}


def _nvenc(profile: Profile, options: EncodeOptions) -> dict[str, Any]:
    args: dict[str, Any] = {"preset": "p4", "rc": "vbr", "forced-idr": 1}
    if profile.codec == "h264":
        args["profile:v"] = profile.h264_profile
    elif profile.codec == "hevc":
        args["profile:v"] = "main10" if profile.bit_depth == 10 else "main"
    return args


def _h264_qsv(profile: Profile, options: EncodeOptions) -> dict[str, Any]:
    return {"profile:v": profile.h264_profile, "look_ahead": 0}


_ENCODER_ARGS = {
    "libx264": _libx264, "libx265": _libx265, "libsvtav1": _libsvtav1,
    "h264_nvenc": _nvenc, "hevc_nvenc": _nvenc, "av1_nvenc": _nvenc, "h264_qsv": _h264_qsv,
}


def video_stream(stream: Any, source: SourceInfo, plan: RenditionPlan, codec: str) -> Any:
    if (plan.width, plan.height) != (source.width, source.height):
        stream = stream.filter("scale", plan.width, plan.height).filter("setsar", 1)
    if codec.endswith("_vaapi"):
        stream = stream.filter("format", "nv12").filter("hwupload")
    return stream


SEGMENT_PATTERN = "seg_%05d.m4s"
INIT_SEGMENT = "init.mp4"
MEDIA_PLAYLIST = "index.m3u8"


def _hls_options(segments: Path, segment_seconds: int) -> dict[str, Any]:
    """The hls muxer's options for fMP4 segments of ``segment_seconds`` in ``segments``."""
    return {"hls_time": segment_seconds, "hls_playlist_type": "vod",
            "hls_segment_type": "fmp4", "hls_fmp4_init_filename": INIT_SEGMENT,
            "hls_segment_filename": str(segments / SEGMENT_PATTERN),
            "hls_flags": "independent_segments"}


def _tee_spec(output: Path, segments: Path, segment_seconds: int,
              audio_segments: Path | None = None) -> str:
    """One encode, two or three muxers: the faststart MP4 (video and audio), the video-only
    CMAF segments of the same packets and, for the job's audio carrier, the audio-only
    segments of its AAC stream (the job's one audio rendition)."""
    slaves = [f"[f=mp4:movflags=+faststart]{output}", _hls_slave("v", segments, segment_seconds)]
    if audio_segments is not None:
        slaves.append(_hls_slave("a", audio_segments, segment_seconds))
    return "|".join(slaves)


def _hls_slave(streams: str, segments: Path, segment_seconds: int) -> str:
    hls = ":".join(f"{k}={v}" for k, v in _hls_options(segments, segment_seconds).items())
    return f"[f=hls:select={streams}:{hls}]{segments / MEDIA_PLAYLIST}"


def _output(source_input: Any, video: Any, source: SourceInfo, plan: RenditionPlan,
            codec: str, output: Path, options: EncodeOptions, window: Window | None,
            segments: Path | None = None, audio_segments: Path | None = None) -> Any:
    audio = source.has_audio and window is None
    audio_args = _audio_args(source, plan, codec) if audio else {"an": None}
    if codec == COPY:
        out_args: dict[str, Any] = {"c:v": "copy", **_tag_args(plan), **audio_args}
    else:
        out_args = {**video_args(source, plan, codec, options), **_tag_args(plan),
                    **audio_args}
        video = video_stream(video, source, plan, codec)
    if window is not None:
        out_args["t"] = f"{window.duration_s:.6f}"
        offset = window.start_s % options.segment_seconds
        if codec != COPY and offset > 1e-6:  # a slice cut on a source keyframe mid-segment:
            # its own first frame is a keyframe, then the global segment boundaries again
            out_args["force_key_frames"] = (f"expr:gte(t,n_forced*{options.segment_seconds}"
                                            f"-{offset:.6f})")
    streams = [video, source_input["a:0"]] if audio else [video]
    if segments is not None and codec != COPY and window is None:
        # The tee muxer cannot ask the encoders for global headers on its muxers' behalf:
        # without the flag SVT-AV1 leaves av1C empty, which browsers' MSE refuse.
        out_args.update({"f": "tee", "map_metadata": -1, "flags": "+global_header"})
        carried = audio_segments if audio else None
        return ffmpeg.output(*streams, _tee_spec(output, segments, options.segment_seconds,
                                                 carried), **out_args)
    out_args.update({"movflags": "+faststart", "f": "mp4", "map_metadata": -1})
    return ffmpeg.output(*streams, str(output), **out_args)


def build_ladder_command(source_path: Path, source: SourceInfo, plans: list[RenditionPlan],
                         codec: str, outputs: list[Path], options: EncodeOptions,
                         window: Window | None = None,
                         segments: list[Path | None] | None = None,
                         audio_segments: list[Path | None] | None = None) -> list[str]:
    """Return one FFmpeg argv that decodes the source once and writes every rendition.

    With several plans the decoded video is ``split`` and each branch scaled and encoded
    on its own: one decode instead of one per rendition. With a ``window`` only that
    slice of the video is encoded (a chunk: no audio, keyframes from its own start). A
    folder in ``segments`` gets that rendition's HLS segments from the same encode (the
    ``tee`` muxer), so packaging costs no second pass; a folder in ``audio_segments`` gets
    that rendition's audio as the job's audio rendition the same way.
    """
    folders = segments or [None] * len(plans)
    audio_folders = audio_segments or [None] * len(plans)
    source_input = _input(source_path, window.start_s if window else 0.0, options.max_pixels)
    video = source_input["v:0"]
    if len(plans) > 1 and codec != COPY:
        branches = video.filter_multi_output("split", len(plans))
        videos = [branches.stream(index) for index in range(len(plans))]
    else:
        videos = [video] * len(plans)
    command = ffmpeg.merge_outputs(*(
        _output(source_input, branch, source, plan, codec, output, options, window, folder,
                audio_folder)
        for branch, plan, output, folder, audio_folder
        in zip(videos, plans, outputs, folders, audio_folders, strict=True)
    ))
    global_args = ["-hide_banner", "-nostdin", "-loglevel", "error", *PROGRESS_ARGS]
    if codec.endswith("_vaapi"):
        global_args += ["-init_hw_device", f"vaapi=va:{VAAPI_DEVICE}", "-filter_hw_device", "va"]
    return command.global_args(*global_args).overwrite_output().compile(cmd=options.ffmpeg_bin)


def build_encode_command(source_path: Path, source: SourceInfo, plan: RenditionPlan,
                         codec: str, output: Path, options: EncodeOptions) -> list[str]:
    """Return the FFmpeg argv that turns the source into one rendition with ``codec``."""
    return build_ladder_command(source_path, source, [plan], codec, [output], options)


def build_audio_command(source_path: Path, outputs: dict[int, Path], ffmpeg_bin: str,
                        window: AudioWindow | None = None) -> list[str]:
    """Return the argv that encodes the source's audio once per bitrate (kb/s to file), with
    one decode: a chunked job's audio track, or with a ``window`` one part of it (the
    source's last part: a window whose duration is None runs to the end)."""
    window = window or AudioWindow(0.0, None)
    audio = _input(source_path, window.start_s, duration_s=window.duration_s)["a:0"]
    encodes = [ffmpeg.output(audio, str(path), **aac_args(kbps), vn=None, f="mp4",
                             movflags="+faststart", map_metadata=-1)
               for kbps, path in outputs.items()]
    command = ffmpeg.merge_outputs(*encodes)
    return command.global_args("-hide_banner", "-nostdin", "-loglevel", "error",
                               *PROGRESS_ARGS).overwrite_output().compile(cmd=ffmpeg_bin)


class StitchAudio(StrEnum):
    """Where a stitch takes its audio from."""

    SOURCE = "source"
    """The source: its audio is encoded by the stitch (records older than audio tracks)."""
    TRACK = "track"
    """The track the audio task encoded while the slices ran: copied."""
    PARTS = "parts"
    """An ffconcat list of the parts the first slices encoded: joined by copy."""


def build_stitch_command(chunk_list: Path, audio: Path | None, source: SourceInfo,
                         plan: RenditionPlan, output: Path, ffmpeg_bin: str, *,
                         audio_from: StitchAudio = StitchAudio.SOURCE) -> list[str]:
    """Return the argv that joins encoded chunks (stream copy) and adds the audio.

    ``chunk_list`` is an ffconcat file this worker wrote, naming chunk files beside it
    (``safe`` stays on). ``audio`` is the file ``audio_from`` names; None: no audio.
    """
    chunks = ffmpeg.input(str(chunk_list), f="concat", safe=1, protocol_whitelist="file")
    streams = [chunks["v:0"]]
    out_args: dict[str, Any] = {"c:v": "copy", **_tag_args(plan), "movflags": "+faststart",
                                "f": "mp4", "map_metadata": -1}
    global_args = ["-hide_banner", "-nostdin", "-loglevel", "error", *PROGRESS_ARGS]
    if source.has_audio and audio is not None:
        if audio_from == StitchAudio.PARTS:
            streams.append(ffmpeg.input(str(audio), f="concat", safe=1,
                                        protocol_whitelist="file")["a:0"])
            # The first part's priming frame has a negative timestamp; shifting the joined
            # input to start at 0 would play every sample 1024 samples late.
            global_args.append("-copyts")
        else:
            streams.append(_input(audio)["a:0"])
        out_args.update({"c:a": "copy"} if audio_from != StitchAudio.SOURCE
                        else _audio_args(source, plan, SOFTWARE_H264))
    command = ffmpeg.output(*streams, str(output), **out_args)
    return command.global_args(*global_args).overwrite_output().compile(cmd=ffmpeg_bin)


def build_hls_command(video: Path, playlist: Path, segment_seconds: int,
                      ffmpeg_bin: str, video_tag: str | None = None) -> list[str]:
    """Return the argv that cuts a finished rendition's video into CMAF segments, without
    encoding (``video_tag``: the sample entry to keep, ``hvc1`` for HEVC)."""
    tag = {"tag:v": video_tag} if video_tag else {}
    command = ffmpeg.output(_input(video)["v:0"], str(playlist), c="copy", **tag, f="hls",
                            **_hls_options(playlist.parent, segment_seconds))
    return command.global_args("-hide_banner", "-nostdin", "-loglevel", "error",
                               *PROGRESS_ARGS).overwrite_output().compile(cmd=ffmpeg_bin)


def build_audio_hls_command(video: Path, playlist: Path, segment_seconds: int,
                            ffmpeg_bin: str) -> list[str]:
    """Return the argv that copies a finished rendition's audio into CMAF segments: the
    job's one audio rendition, shared by every video rendition in HLS and DASH."""
    command = ffmpeg.output(_input(video)["a:0"], str(playlist), c="copy", f="hls",
                            **_hls_options(playlist.parent, segment_seconds))
    return command.global_args("-hide_banner", "-nostdin", "-loglevel", "error",
                               *PROGRESS_ARGS).overwrite_output().compile(cmd=ffmpeg_bin)


def build_poster_command(video: Path, output: Path, at_s: float, ffmpeg_bin: str, *,
                         keyframes_only: bool = False, max_pixels: int = 0) -> list[str]:
    """Return the argv that grabs one frame as a JPEG poster: the frame at ``at_s`` of a
    finished rendition, or with ``keyframes_only`` the first keyframe from ``at_s`` on (of a
    source: one picture decoded, however far apart its keyframes are)."""
    source = _input(video, at_s, max_pixels, keyframes_only=keyframes_only)
    frame = source.video.filter("scale", 480, -2)
    command = ffmpeg.output(frame, str(output), vframes=1, f="image2",
                            vcodec="mjpeg", **{"q:v": 4})
    return command.global_args("-hide_banner", "-nostdin", "-loglevel", "error",
                               *PROGRESS_ARGS).overwrite_output().compile(cmd=ffmpeg_bin)
