"""Small generated clips (lavfi testsrc2 + sine) and ffprobe helpers for assertions."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

STILL_PICTURE = "trim=end_frame=1,loop=loop=-1:size=1,setpts=N/FRAME_RATE/TB,scroll=h=0.0005"
"""testsrc2's first frame, drifting slowly sideways: content that needs few bits."""
GRAIN = "noise=alls=40:allf=t+u"
"""Heavy moving noise over testsrc2: content no rung's cap makes clean."""


def make_clip(
    path: Path,
    *,
    seconds: float = 2.0,
    size: str = "320x240",
    rate: int = 25,
    audio: bool = True,
    codec: str = "libx264",
    extra: list[str] | None = None,
    video_filter: str | None = None,
) -> Path:
    """Generate a test clip with FFmpeg's testsrc2 (and a sine tone when ``audio``);
    ``video_filter`` changes its pictures (see :data:`STILL_PICTURE`, :data:`GRAIN`)."""
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    if video_filter:  # -t: a looped picture would never end by itself
        args += ["-vf", video_filter, "-t", str(seconds)]
    args += ["-c:v", codec, "-pix_fmt", "yuv420p"]
    if codec == "libx264":
        args += ["-preset", "ultrafast"]
    if audio:
        args += ["-c:a", "aac", "-b:a", "96k"]
    args += [*(extra or []), str(path)]
    subprocess.run(args, check=True)
    return path


def ffprobe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
         str(path)],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out)


def stream(info: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((s for s in info["streams"] if s["codec_type"] == kind), None)


def duration(info: dict[str, Any]) -> float:
    return float(info["format"]["duration"])


def make_duration_bomb(path: Path, *, claimed_s: int = 100 * 3600) -> Path:
    """A real 5 s 160x120 MP4 whose movie header (``mvhd``) claims ``claimed_s`` seconds."""
    clip = make_clip(path.with_name(f".{path.stem}-real.mp4"), seconds=5, size="160x120",
                     audio=False, extra=["-g", "250"])
    data = bytearray(clip.read_bytes())
    box = data.find(b"mvhd")
    assert box > 0 and data[box + 4] == 0, "expected a version-0 mvhd"
    timescale = struct.unpack(">I", data[box + 16:box + 20])[0]
    data[box + 20:box + 24] = struct.pack(">I", min(2**32 - 1, claimed_s * timescale))
    path.write_bytes(bytes(data))
    return path


def make_resize_bomb(path: Path, *, big: int = 8192, frames: int = 4) -> Path:
    """MJPEG in Matroska: the first frame is 64x64 (what ffprobe sees), the rest big x big."""
    work = path.with_name(f".{path.stem}-frames")
    work.mkdir(parents=True, exist_ok=True)
    base = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"]
    subprocess.run([*base, "-i", "color=c=red:s=64x64", "-frames:v", "1",
                    str(work / "f1.jpg")], check=True)
    subprocess.run([*base, "-i", f"testsrc2=s={big}x{big}", "-frames:v", "1", "-q:v", "20",
                    str(work / "f2.jpg")], check=True)
    for index in range(3, frames + 2):
        (work / f"f{index}.jpg").write_bytes((work / "f2.jpg").read_bytes())
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-framerate", "2",
                    "-i", str(work / "f%d.jpg"), "-c", "copy", str(path)], check=True)
    return path


FAKE_NVENC = '''#!{python}
"""Test-only FFmpeg: h264_nvenc "works" here (it is libx264 underneath); all else is real."""
import os
import sys

NVENC_ONLY = {{"-rc": 1, "-forced-idr": 1}}
args, skip = [], 0
for index, arg in enumerate(sys.argv[1:]):
    if skip:
        skip -= 1
        continue
    if arg in NVENC_ONLY and "h264_nvenc" in sys.argv:
        skip = NVENC_ONLY[arg]
        continue
    if arg == "p4" and args and args[-1] == "-preset":
        arg = "ultrafast"
    args.append("libx264" if arg == "h264_nvenc" else arg)
os.execvp("ffmpeg", ["ffmpeg", *args])
'''


def fake_nvenc_ffmpeg(path: Path) -> Path:
    """Write an ``FFCLUSTER_FFMPEG_BIN`` whose NVENC test encode succeeds (a GPU host, faked)."""
    path.write_text(FAKE_NVENC.format(python=sys.executable))
    path.chmod(0o755)
    return path


LOGS_AND_RUNS = """#!/bin/sh
echo "$*" >> {log}
exec {tool} "$@"
"""


def logging_tool(folder: Path, tool: str) -> tuple[Path, Path]:
    """A stand-in for ``tool`` (``ffmpeg``, ``ffprobe``) that notes each command line in a
    file, then runs the real one; returns (the stand-in, its file of command lines)."""
    log, fake = folder / f"{tool}-calls.log", folder / tool
    fake.write_text(LOGS_AND_RUNS.format(log=log, tool=tool))
    fake.chmod(0o755)
    return fake, log


NO_SVTAV1 = '''#!/bin/sh
# Test-only FFmpeg without libsvtav1: a build that cannot encode AV1 at all.
for arg in "$@"; do
  if [ "$arg" = "-encoders" ]; then ffmpeg "$@" | grep -v libsvtav1; exit 0; fi
  if [ "$arg" = "libsvtav1" ]; then echo "Unknown encoder 'libsvtav1'" >&2; exit 8; fi
done
exec ffmpeg "$@"
'''


def ffmpeg_without_av1(path: Path) -> Path:
    """Write an ``FFCLUSTER_FFMPEG_BIN`` that lists and runs no AV1 encoder."""
    path.write_text(NO_SVTAV1)
    path.chmod(0o755)
    return path


def playlist_attributes(line: str) -> dict[str, str]:
    """The attributes of an HLS tag line (``#EXT-X-STREAM-INF:A=1,CODECS="x,y"``)."""
    body = line.split(":", 1)[1]
    parts, current, quoted = [], "", False
    for char in body:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return {k: v.strip('"') for k, v in (p.split("=", 1) for p in parts)}


def keyframe_times(path: Path) -> list[float]:
    """Presentation times of a file's video keyframes, in seconds (3 decimals), from the
    packets' K flag: no decoding (``-skip_frame nokey`` is not honoured by every decoder)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
         "packet=pts_time,flags", "-of", "csv=p=0", str(path)],
        check=True, capture_output=True, text=True).stdout
    rows = [line.split(",") for line in out.split()]
    return sorted(round(float(pts), 3) for pts, flags, *_ in rows if "K" in flags)
