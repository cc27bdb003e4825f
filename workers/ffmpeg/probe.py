"""Probe an upload with ffprobe, locked to local files and a whitelist of video demuxers."""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from common.jobs import SourceInfo
from workers.ffmpeg.launch import CAPTURED, run_media_tool, start_media_tool

log = logging.getLogger(__name__)

PROTOCOL_WHITELIST = "file"
DEMUXER_WHITELIST = ",".join((
    "mov", "mp4", "m4a", "3gp", "matroska", "webm", "avi", "flv", "mpegts", "mpeg", "mxf",
    "asf", "ogg", "h264", "hevc", "m4v", "mpegvideo", "dv", "nut", "wav", "mp3", "aac",
))
"""Demuxers an upload may use. Playlists (hls, concat), image sequences and network-reading
demuxers are absent on purpose: they are how hostile uploads read files or fetch URLs."""

INPUT_GUARDS = ["-protocol_whitelist", PROTOCOL_WHITELIST, "-format_whitelist", DEMUXER_WHITELIST]
"""Options that go before every ``-i`` of user input, for ffprobe and FFmpeg alike."""


class ProbeError(Exception):
    """The upload is not a video we can encode; the message is a sentence for its owner."""


FFPROBE_TEXT: dict[str, Any] = {"text": True, "errors": "replace"}
"""How every ffprobe's output is read (with :data:`~workers.ffmpeg.launch.CAPTURED` pipes)."""


def ffprobe(args: list[str], timeout_s: float, nice: int) -> subprocess.CompletedProcess[str]:
    """Run one ffprobe like FFmpeg: its own session, at FFmpeg's niceness (an ffprobe of a
    big file is seconds of CPU that the web tier on the same host should not wait behind)."""
    return run_media_tool(args, nice, timeout_s, **FFPROBE_TEXT)


def _describe_args(path: Path, ffprobe_bin: str, packets: int = 0) -> list[str]:
    """Format and streams; with ``packets``, also the timing of that many first packets."""
    reads = (["-read_intervals", f"%+#{packets}", "-show_entries",
              "packet=stream_index,pts_time,duration_time,flags"] if packets else [])
    return [ffprobe_bin, "-v", "error", *INPUT_GUARDS, "-print_format", "json",
            "-show_format", "-show_streams", *reads, "-i", f"file:{path}"]


def _description(done: subprocess.CompletedProcess[str], path: Path) -> dict[str, Any]:
    if done.returncode != 0:
        detail = done.stderr.strip().splitlines()[-1:] or ["no detail"]
        log.info("ffprobe refused %s: %s", path, detail[0])
        raise ProbeError("The upload is not a video file FFmpeg can read in an accepted "
                         f"format ({_clean(detail[0], path)}).")
    return json.loads(done.stdout or "{}")


def _too_slow(timeout_s: float) -> ProbeError:
    return ProbeError(f"Reading the upload took longer than {timeout_s:.0f}s; "
                      "it is not a video we can encode.")


def run_ffprobe(path: Path, ffprobe_bin: str = "ffprobe", timeout_s: float = 30, *,
                nice: int = 0, packets: int = 0) -> dict[str, Any]:
    """Return ffprobe's JSON description of ``path`` (format and streams; with ``packets``,
    ``packets`` too: the timing of that many first packets, fewer when the file ends)."""
    try:
        done = ffprobe(_describe_args(path, ffprobe_bin, packets), timeout_s, nice)
    except subprocess.TimeoutExpired:
        raise _too_slow(timeout_s) from None
    return _description(done, path)


def run_ffprobes(paths: list[Path], ffprobe_bin: str = "ffprobe", timeout_s: float = 30, *,
                 nice: int = 0) -> list[dict[str, Any] | ProbeError]:
    """Describe several files at once: their ffprobes start together (each as
    :func:`ffprobe` runs one) and are read in order; each result is a description or the
    :class:`ProbeError` :func:`run_ffprobe` would have raised."""
    processes = [start_media_tool(_describe_args(path, ffprobe_bin), nice, **CAPTURED,
                                  **FFPROBE_TEXT)
                 for path in paths]
    deadline = time.monotonic() + timeout_s
    results: list[dict[str, Any] | ProbeError] = []
    try:
        for process, path in zip(processes, paths, strict=True):
            try:
                out, err = process.communicate(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                results.append(_too_slow(timeout_s))
                continue
            try:
                results.append(_description(
                    subprocess.CompletedProcess(process.args, process.returncode, out, err),
                    path))
            except ProbeError as exc:
                results.append(exc)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait()
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
    return results


def keyframes_before(path: Path, times: list[float], ffprobe_bin: str = "ffprobe",
                     timeout_s: float = 30, *, nice: int = 0) -> list[float]:
    """The video keyframe at or before each of ``times`` (ffprobe seeks there and reads one
    packet, so a long file costs no more than a short one); sorted, without repeats."""
    intervals = ",".join(f"{max(0.0, t):.3f}%+#1" for t in times)
    args = [ffprobe_bin, "-v", "error", *INPUT_GUARDS, "-select_streams", "v:0",
            "-read_intervals", intervals, "-show_entries", "packet=pts_time,flags",
            "-of", "csv=p=0", "-i", f"file:{path}"]
    try:
        done = ffprobe(args, timeout_s, nice)
    except subprocess.TimeoutExpired:
        raise ProbeError(f"Finding the keyframes took longer than {timeout_s:.0f}s.") from None
    if done.returncode != 0:
        raise ProbeError("ffprobe could not read the keyframes "
                         f"({_clean((done.stderr.strip().splitlines() or ['?'])[-1], path)}).")
    found = set()
    for line in done.stdout.splitlines():
        pts, _, flags = line.partition(",")
        with contextlib.suppress(ValueError):
            if flags.startswith("K"):
                found.add(round(float(pts), 6))
    return sorted(found)


def _clean(line: str, path: Path) -> str:
    """Return FFmpeg's reason without context prefixes or the server-side path."""
    text = line.split("] ", 1)[-1] if line.startswith("[") else line
    text = text.replace(f"file:{path}", "the upload").replace(str(path), "the upload")
    return text.replace("file:", "").strip().rstrip(".")


def _rate(value: str | None) -> float:
    try:
        rate = Fraction(value or "0")
    except (ValueError, ZeroDivisionError):
        return 0.0
    return float(rate) if rate > 0 else 0.0


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def main_video(streams: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The video stream a job encodes: the first that is not a cover picture."""
    return next((s for s in streams if s.get("codec_type") == "video"
                 and not s.get("disposition", {}).get("attached_pic")), None)


def source_info(data: dict[str, Any], max_pixels: int) -> SourceInfo:
    """Turn ffprobe's JSON into :class:`SourceInfo`, or say in a sentence why we cannot."""
    streams = data.get("streams", [])
    fmt = data.get("format", {})
    video = main_video(streams)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is None:
        if audio is not None:
            raise ProbeError("The upload has sound but no video stream (an audio-only file).")
        raise ProbeError("The upload has no video stream.")
    width, height = _int(video.get("width")) or 0, _int(video.get("height")) or 0
    if width <= 0 or height <= 0:
        raise ProbeError("The upload's video has no frame size FFmpeg can read.")
    if width * height > max_pixels:
        raise ProbeError(f"The video is {width}x{height}, larger than this cluster accepts "
                         f"({max_pixels} pixels a frame).")
    duration = _float(fmt.get("duration")) or _float(video.get("duration")) or 0.0
    fps = _rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate"))
    frames = _int(video.get("nb_frames"))
    if duration <= 0 and not frames:
        raise ProbeError("The upload has a video stream but no duration: it is a still image "
                         "or a damaged file.")
    return SourceInfo(
        duration=duration, width=width, height=height,
        video_codec=str(video.get("codec_name", "unknown")), fps=round(fps, 3),
        has_audio=audio is not None, bitrate_kbps=_video_bitrate_kbps(video, audio, fmt),
        format_name=str(fmt.get("format_name", "")), pix_fmt=video.get("pix_fmt"), frames=frames,
        audio_codec=audio.get("codec_name") if audio else None,
        audio_rate=_int(audio.get("sample_rate")) if audio else None,
        audio_duration=_float(audio.get("duration")) if audio else None,
        audio_sample_exact=audio is not None and _sample_exact(audio, video),
    )


def _sample_exact(audio: dict[str, Any], video: dict[str, Any]) -> bool:
    """Whether a seek into the audio by time lands on the very sample (see SourceInfo)."""
    rate, tick = _int(audio.get("sample_rate")), _rate(audio.get("time_base"))
    starts = _float(audio.get("start_time")), _float(video.get("start_time"))
    if not rate or not tick or starts[0] is None or starts[1] is None:
        return False
    return tick <= 1 / rate and abs(starts[0] - starts[1]) < 0.5 / rate


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _video_bitrate_kbps(video: dict[str, Any], audio: dict[str, Any] | None,
                        fmt: dict[str, Any]) -> int | None:
    bits = _int(video.get("bit_rate"))
    if bits is None:
        total = _int(fmt.get("bit_rate"))
        audio_bits = _int(audio.get("bit_rate")) if audio else 0
        bits = None if total is None else total - (audio_bits or 0)
    return None if bits is None else max(0, bits // 1000)


END_PROBE_BACK_S = 30.0
END_PROBE_PACKETS = 6000
"""Packets read from just before the claimed end; fewer means the file ended (EOF)."""
DURATION_SLACK_S = 10.0
ONE_PASS_PROBE_BYTES = 64 << 20
"""Uploads up to this size are described and read to their end by one ffprobe; a bigger
one's end is read by a second ffprobe from just before its claimed end (not all of it)."""


def measured_end(path: Path, claimed_s: float, ffprobe_bin: str = "ffprobe",
                 timeout_s: float = 30, *, nice: int = 0) -> float | None:
    """Return where the file's packets really end, read from just before the claimed end.

    A forged container header can claim any duration (a 32-bit ``mvhd`` up to 2^32 s).
    Seeking to the claimed end lands on the last real keyframe when the file is shorter,
    so a few packets tell the truth. None when the read did not reach the end of the file.
    """
    start = max(0.0, claimed_s - END_PROBE_BACK_S)
    args = [ffprobe_bin, "-v", "error", *INPUT_GUARDS,
            "-read_intervals", f"{start:.3f}%+#{END_PROBE_PACKETS}",
            "-show_entries", "packet=pts_time,duration_time", "-of", "json",
            "-i", f"file:{path}"]
    try:
        done = ffprobe(args, timeout_s, nice)
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        return None
    with contextlib.suppress(ValueError):
        return packets_end(json.loads(done.stdout or "{}").get("packets", []))
    return None


def packets_end(packets: list[dict[str, Any]]) -> float | None:
    """Where the packets ffprobe read end (start plus duration of the latest); None when it
    read none, or stopped at ``END_PROBE_PACKETS`` before the end of the file."""
    if not packets or len(packets) >= END_PROBE_PACKETS:
        return None
    ends = [start + (_float(p.get("duration_time")) or 0.0) for p in packets
            if (start := _float(p.get("pts_time"))) is not None]
    return max(ends) if ends else None


def check_duration(info: SourceInfo, real_end: float | None, max_seconds: int) -> SourceInfo:
    """Refuse a header that overstates the packets, or a source over the cluster's ceiling."""
    if real_end is not None and info.duration - real_end > max(DURATION_SLACK_S,
                                                               0.1 * real_end):
        raise ProbeError(f"The upload's header says it lasts {_clock(info.duration)}, but its "
                         f"streams end at {_clock(real_end)}: the file is damaged or forged.")
    longest = max(info.duration, real_end or 0.0)
    if longest > max_seconds:
        raise ProbeError(f"The video lasts {_clock(longest)}, longer than this cluster accepts "
                         f"({_clock(max_seconds)}).")
    return info


def _clock(seconds: float) -> str:
    whole = int(seconds)
    if whole < 60:
        return f"{seconds:.1f} s"
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def probe_source(path: Path, *, ffprobe_bin: str = "ffprobe", timeout_s: float = 30,
                 max_pixels: int = 8192 * 4352, max_seconds: int = 12 * 3600,
                 nice: int = 0) -> SourceInfo:
    """Probe an upload: its facts, or :class:`ProbeError` with a sentence for the user."""
    if not path.is_file():
        raise ProbeError("The uploaded file is missing from the data directory.")
    size = path.stat().st_size
    if size == 0:
        raise ProbeError("The upload is empty (0 bytes).")
    # A small file is read whole by the ffprobe that describes it (its packets fit the
    # budget), so where they end is known without a second ffprobe seeking to the end.
    described = run_ffprobe(path, ffprobe_bin, timeout_s, nice=nice,
                            packets=END_PROBE_PACKETS if size <= ONE_PASS_PROBE_BYTES else 0)
    info = source_info(described, max_pixels)
    packets = described.get("packets", [])
    real_end = packets_end(packets)
    if real_end is not None:  # every packet was read: where the last keyframe is, too
        info = replace(info, last_keyframe_s=last_keyframe(packets, described))
    elif info.duration:
        real_end = measured_end(path, info.duration, ffprobe_bin, timeout_s, nice=nice)
    return check_duration(info, real_end, max_seconds)


def last_keyframe(packets: list[dict[str, Any]], described: dict[str, Any]) -> float | None:
    """When the main video's last keyframe among ``packets`` starts (None: none has a time)."""
    video = main_video(described.get("streams", []))
    index = None if video is None else video.get("index")
    times = [start for p in packets
             if p.get("stream_index") == index and "K" in str(p.get("flags", ""))
             and (start := _float(p.get("pts_time"))) is not None]
    return max(times) if times else None
