"""Find which hardware H.264 encoders really work here: listing is not working."""

from __future__ import annotations

import logging
import subprocess
import sys

from workers.ffmpeg.commands import VAAPI_DEVICE
from workers.ffmpeg.process import FFmpegRun

log = logging.getLogger(__name__)

HARDWARE_H264 = ("h264_nvenc", "h264_qsv", "h264_vaapi", "h264_videotoolbox")
TEST_TIMEOUT_S = 20


def ffmpeg_version(ffmpeg_bin: str = "ffmpeg") -> str:
    out = subprocess.run([ffmpeg_bin, "-hide_banner", "-version"], capture_output=True,
                         text=True, timeout=TEST_TIMEOUT_S, check=True).stdout
    first = out.splitlines()[0] if out else ""
    return first.split(" Copyright")[0].removeprefix("ffmpeg version ").strip()


def listed_hardware_encoders(ffmpeg_bin: str = "ffmpeg") -> list[str]:
    """Return the hardware H.264 encoders this FFmpeg build lists, in preference order."""
    out = subprocess.run([ffmpeg_bin, "-hide_banner", "-encoders"], capture_output=True,
                         text=True, timeout=TEST_TIMEOUT_S).stdout
    listed = {parts[1] for parts in (line.split() for line in out.splitlines()) if len(parts) > 1}
    wanted = [e for e in HARDWARE_H264 if e in listed]
    if sys.platform != "darwin":
        wanted = [e for e in wanted if e != "h264_videotoolbox"]
    return wanted


def check_encode_command(encoder: str, ffmpeg_bin: str = "ffmpeg") -> list[str]:
    """Return a tiny real encode (a quarter second of 256x144) through ``encoder``."""
    args = [ffmpeg_bin, "-hide_banner", "-nostdin", "-loglevel", "error"]
    video_filter = []
    if encoder == "h264_vaapi":
        args += ["-init_hw_device", f"vaapi=va:{VAAPI_DEVICE}", "-filter_hw_device", "va"]
        video_filter = ["-vf", "format=nv12,hwupload"]
    return [*args, "-f", "lavfi", "-i", "testsrc2=size=256x144:rate=25:duration=0.25",
            *video_filter, "-c:v", encoder, "-f", "null", "-"]


def try_encoder(encoder: str, ffmpeg_bin: str = "ffmpeg") -> str | None:
    """Return None when ``encoder`` encodes a test clip, else FFmpeg's error line."""
    try:
        done = subprocess.run(check_encode_command(encoder, ffmpeg_bin), capture_output=True,
                              text=True, timeout=TEST_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return f"test encode took longer than {TEST_TIMEOUT_S}s"
    if done.returncode == 0:
        return None
    return FFmpegRun(done.returncode, done.stderr.splitlines()).error_line


def probe_hardware_encoders(ffmpeg_bin: str = "ffmpeg") -> tuple[list[str], dict[str, str]]:
    """Return (working encoders, {failed encoder: error line}) from real test encodes."""
    working: list[str] = []
    failures: dict[str, str] = {}
    for encoder in listed_hardware_encoders(ffmpeg_bin):
        error = try_encoder(encoder, ffmpeg_bin)
        if error is None:
            working.append(encoder)
        else:
            failures[encoder] = error
        log.info("hardware encoder %s: %s", encoder, "works" if error is None else error)
    return working, failures
