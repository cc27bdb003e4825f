"""Find which encoders really work here: listing is not working (hardware), and a build
may lack a codec's software encoder."""

from __future__ import annotations

import functools
import logging
import subprocess
import sys

from common.codecs import FAMILIES, VideoCodec, all_hardware_encoders
from workers.ffmpeg.commands import VAAPI_DEVICE
from workers.ffmpeg.launch import run_media_tool
from workers.ffmpeg.process import FFmpegRun

log = logging.getLogger(__name__)

TEST_TIMEOUT_S = 20


def ffmpeg_version(ffmpeg_bin: str = "ffmpeg") -> str:
    out = subprocess.run([ffmpeg_bin, "-hide_banner", "-version"], capture_output=True,
                         text=True, timeout=TEST_TIMEOUT_S, check=True).stdout
    first = out.splitlines()[0] if out else ""
    return first.split(" Copyright")[0].removeprefix("ffmpeg version ").strip()


@functools.cache
def listed_encoders(ffmpeg_bin: str = "ffmpeg") -> frozenset[str]:
    """Return the names of every encoder this FFmpeg build lists (asked once per binary)."""
    out = subprocess.run([ffmpeg_bin, "-hide_banner", "-encoders"], capture_output=True,
                         text=True, timeout=TEST_TIMEOUT_S).stdout
    return frozenset(parts[1] for parts in (line.split() for line in out.splitlines())
                     if len(parts) > 1)


def listed_hardware_encoders(ffmpeg_bin: str = "ffmpeg") -> list[str]:
    """Return the hardware encoders (every codec) this FFmpeg build lists, in preference order."""
    listed = listed_encoders(ffmpeg_bin)
    wanted = [e for e in all_hardware_encoders() if e in listed]
    if sys.platform != "darwin":
        wanted = [e for e in wanted if not e.endswith("_videotoolbox")]
    return wanted


def software_codecs(ffmpeg_bin: str = "ffmpeg") -> list[VideoCodec]:
    """Return the codecs whose software encoder this FFmpeg build has (libx264, libx265,
    libsvtav1): the codecs this worker can always encode."""
    listed = listed_encoders(ffmpeg_bin)
    return [codec for codec, family in FAMILIES.items() if family.software in listed]


def check_encode_command(encoder: str, ffmpeg_bin: str = "ffmpeg") -> list[str]:
    """Return a tiny real encode (a quarter second of 256x144) through ``encoder``."""
    args = [ffmpeg_bin, "-hide_banner", "-nostdin", "-loglevel", "error"]
    video_filter = []
    if encoder.endswith("_vaapi"):
        args += ["-init_hw_device", f"vaapi=va:{VAAPI_DEVICE}", "-filter_hw_device", "va"]
        video_filter = ["-vf", "format=nv12,hwupload"]
    return [*args, "-f", "lavfi", "-i", "testsrc2=size=256x144:rate=25:duration=0.25",
            *video_filter, "-c:v", encoder, "-f", "null", "-"]


def try_encoder(encoder: str, ffmpeg_bin: str = "ffmpeg", nice: int = 0) -> str | None:
    """Return None when ``encoder`` encodes a test clip, else FFmpeg's error line."""
    try:
        done = run_media_tool(check_encode_command(encoder, ffmpeg_bin), nice, TEST_TIMEOUT_S,
                              text=True)
    except subprocess.TimeoutExpired:
        return f"test encode took longer than {TEST_TIMEOUT_S}s"
    if done.returncode == 0:
        return None
    return FFmpegRun(done.returncode, done.stderr.splitlines()).error_line


def probe_hardware_encoders(ffmpeg_bin: str = "ffmpeg",
                            nice: int = 0) -> tuple[list[str], dict[str, str]]:
    """Return (working encoders, {failed encoder: error line}) from real test encodes (run at
    FFmpeg's niceness: a worker starting beside the web tier must not stall it)."""
    working: list[str] = []
    failures: dict[str, str] = {}
    for encoder in listed_hardware_encoders(ffmpeg_bin):
        error = try_encoder(encoder, ffmpeg_bin, nice)
        if error is None:
            working.append(encoder)
        else:
            failures[encoder] = error
        log.info("hardware encoder %s: %s", encoder, "works" if error is None else error)
    return working, failures
