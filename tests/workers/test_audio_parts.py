"""A chunked job's audio in parts: the cut arithmetic, and a real join against one encode."""

from __future__ import annotations

import math
import subprocess
from array import array
from pathlib import Path

import pytest

from common.jobs import SourceInfo
from common.ladder import Profile, RenditionPlan
from workers.ffmpeg.audio_parts import (
    AAC_FRAME,
    TAIL_FRAMES,
    audio_part,
    concat_lines,
    plan_cuts,
    splittable,
)
from workers.ffmpeg.commands import (
    AudioWindow,
    StitchAudio,
    build_audio_command,
    build_stitch_command,
)
from workers.ffmpeg.process import run_ffmpeg

RATE = 48_000


def test_cuts_lie_on_the_frame_grid_and_give_every_part_the_same_encode() -> None:
    cuts = plan_cuts(60.0, RATE, 2, lead_s=12.0)
    assert cuts == [round(36.0 * RATE / AAC_FRAME) * AAC_FRAME]  # (60 + 12) / 2
    first, last = audio_part(cuts, 0, RATE, 12.0), audio_part(cuts, 1, RATE, 12.0)
    assert (first.start_s, first.inpoint_s) == (0.0, 0.0)
    assert first.duration_s == pytest.approx(cuts[0] / RATE + TAIL_FRAMES * AAC_FRAME / RATE)
    assert first.kept_s == cuts[0] / RATE
    assert last.start_s == pytest.approx(cuts[0] / RATE - 12.0, abs=AAC_FRAME / RATE)
    assert last.duration_s is None and last.kept_s is None  # to the source's end
    assert last.inpoint_s * RATE % AAC_FRAME == 0
    assert abs((60.0 - last.start_s) - first.duration_s) < 0.1  # equal work


def test_parts_shrink_to_what_the_lead_in_allows() -> None:
    assert len(plan_cuts(600.0, RATE, 4, lead_s=12.0)) == 3
    assert len(plan_cuts(40.0, RATE, 4, lead_s=12.0)) == 1  # two parts: three need 48 s
    assert plan_cuts(20.0, RATE, 2, lead_s=12.0) == []
    assert plan_cuts(600.0, RATE, 1, lead_s=12.0) == []
    cuts = plan_cuts(60.0, 44_100, 3, lead_s=0.0)
    assert all(c % AAC_FRAME == 0 for c in cuts) and cuts == sorted(cuts)



def _source(**audio: object) -> SourceInfo:
    facts: dict[str, object] = {"audio_rate": 44_100, "audio_sample_exact": True,
                                "audio_duration": 60.02, **audio}
    return SourceInfo(duration=60.0, width=64, height=48, video_codec="h264", fps=10.0,
                      has_audio=True, **facts)  # type: ignore[arg-type]


def test_only_audio_with_sample_exact_timestamps_at_an_aac_rate_is_split() -> None:
    assert splittable(_source())
    assert not splittable(_source(audio_rate=44_000))  # AAC would resample it
    assert not splittable(_source(audio_sample_exact=False))  # Matroska's milliseconds
    assert not splittable(_source(audio_rate=None))
    assert not splittable(_source(audio_duration=20.0))  # the sound ends before the picture
    assert not splittable(_source(audio_duration=None))


def test_the_concat_list_keeps_each_parts_own_frames() -> None:
    cuts = plan_cuts(60.0, RATE, 3, lead_s=5.0)
    lines = concat_lines(["a.m4a", "b.m4a", "c.m4a"], cuts, RATE, 5.0)
    assert lines[:4] == ["ffconcat version 1.0", "file a.m4a",
                         f"outpoint {(cuts[0] - AAC_FRAME / 2) / RATE:.6f}",
                         f"duration {cuts[0] / RATE:.6f}"]
    lead = 234 * AAC_FRAME / RATE  # 5 s on the frame grid
    assert lines[4:6] == ["file b.m4a", f"inpoint {lead:.6f}"]
    assert lines[-2:] == ["file c.m4a", f"inpoint {lead:.6f}"]  # the last: to its end
    with pytest.raises(ValueError, match="2 audio files for 3 parts"):
        concat_lines(["a.m4a", "b.m4a"], cuts, RATE, 5.0)


SECONDS = 40.0


@pytest.fixture(scope="module")
def noisy_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tone under pink noise (every band busy, as music is), 48 kHz stereo PCM, under a
    tiny picture, in MOV (its audio timestamps count samples)."""
    path = tmp_path_factory.mktemp("audio") / "source.mov"
    subprocess.run([
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size=64x48:rate=10:duration={SECONDS}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={RATE}:duration={SECONDS}",
        "-f", "lavfi", "-i", f"anoisesrc=d={SECONDS}:c=pink:r={RATE}:a=0.1",
        "-filter_complex", "[1:a][2:a]amix=inputs=2,aformat=channel_layouts=stereo[a]",
        "-map", "0:v", "-map", "[a]", "-c:v", "libx264", "-preset", "ultrafast",
        "-c:a", "pcm_s16le", str(path)], check=True)
    return path


def _pcm(path: Path) -> array:
    """The first channel of a file's decoded audio, as 32-bit floats."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a:0",
                          "-f", "f32le", "-ac", "1", "-"], capture_output=True, check=True).stdout
    return array("f", raw)


def _snr_db(reference: array, decoded: array, start: int, end: int, lag: int = 0) -> float:
    signal = noise = 0.0
    for i in range(start, end):
        signal += reference[i] ** 2
        noise += (reference[i] - decoded[i + lag]) ** 2
    return 10 * math.log10(signal / noise)


def _stitch(tmp: Path, source: Path, audio: Path, audio_from: StitchAudio) -> Path:
    chunk = tmp / "00000.mp4"
    if not chunk.exists():  # the video: one slice, stream copied from the source
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(source), "-map", "0:v", "-c", "copy",
                        str(chunk)], check=True)
        (tmp / "chunks.ffconcat").write_text("ffconcat version 1.0\nfile 00000.mp4\n")
    info = SourceInfo(duration=SECONDS, width=64, height=48, video_codec="h264", fps=10.0,
                      has_audio=True, audio_rate=RATE)
    plan = RenditionPlan(Profile("48p", 48, 100, 150, 300), 64, 48)
    output = tmp / f"stitched-{audio_from}.mp4"
    run = run_ffmpeg(build_stitch_command(tmp / "chunks.ffconcat", audio, info, plan, output,
                                          "ffmpeg", audio_from=audio_from))
    assert run.ok, run.error_line
    return output


def _encode(source: Path, output: Path, window: AudioWindow | None = None) -> Path:
    run = run_ffmpeg(build_audio_command(source, {128: output}, "ffmpeg", window))
    assert run.ok, run.error_line
    return output


def test_two_parts_join_into_the_track_one_encode_makes(tmp_path: Path,
                                                         noisy_source: Path) -> None:
    lead_s = 12.0
    cuts = plan_cuts(SECONDS, RATE, 2, lead_s)
    parts = [audio_part(cuts, k, RATE, lead_s) for k in range(2)]
    names = [_encode(noisy_source, tmp_path / f"128k-{k:05d}.m4a",
                     AudioWindow(p.start_s, p.duration_s)).name for k, p in enumerate(parts)]
    (tmp_path / "list.ffconcat").write_text(
        "\n".join(concat_lines(names, cuts, RATE, lead_s)) + "\n")
    joined = _pcm(_stitch(tmp_path, noisy_source, tmp_path / "list.ffconcat", StitchAudio.PARTS))
    whole = _pcm(_stitch(tmp_path, noisy_source,
                         _encode(noisy_source, tmp_path / "whole.m4a"), StitchAudio.TRACK))
    source = _pcm(noisy_source)

    assert len(joined) == len(whole)  # every sample once: no frame lost or doubled
    cut, second = cuts[0], RATE
    # In place: the join lines up with the source, not a frame early or late.
    assert _snr_db(source, joined, cut - second, cut + second) > 20.0
    for lag in (-AAC_FRAME, AAC_FRAME):
        assert _snr_db(source, joined, cut - second, cut + second, lag) < 3.0
    # As good as one encode: around the join, and over the second part's first seconds
    # (where a cold start codes worse).
    assert (_snr_db(source, joined, cut - AAC_FRAME * 4, cut + AAC_FRAME * 4)
            >= _snr_db(source, whole, cut - AAC_FRAME * 4, cut + AAC_FRAME * 4) - 1.0)
    assert (_snr_db(source, joined, cut, cut + 3 * second)
            >= _snr_db(source, whole, cut, cut + 3 * second) - 0.5)
    assert (_snr_db(source, joined, second, len(source) - second)
            >= _snr_db(source, whole, second, len(source) - second) - 0.2)
