"""Quality on request: each rendition's SSIM and PSNR against the source, in the job JSON."""

from __future__ import annotations

import subprocess
from pathlib import Path

from common.settings import Settings
from tests.support.jobs import submit, wait_for_job
from tests.support.workers import WorkerProcess
from workers.ffmpeg.quality import Measured, measure_qualities, measure_quality


def test_quality_is_measured_only_when_asked(
    gpu_settings: Settings, gpu_worker: WorkerProcess, clip: Path
) -> None:
    asked = wait_for_job(gpu_settings, submit(gpu_settings, clip, quality=True).id)
    for rendition in asked.renditions:
        assert rendition.ssim is not None and 0.9 < rendition.ssim <= 1.0
        assert rendition.psnr is not None and 25.0 < rendition.psnr <= 100.0
    smaller = {r.profile: r for r in asked.renditions}
    # Fewer pixels and fewer bits: the 144p rung scores below the 240p one.
    assert smaller["144p"].ssim < smaller["240p"].ssim  # type: ignore[operator]
    plain = wait_for_job(gpu_settings, submit(gpu_settings, clip, profiles=["144p"]).id)
    assert plain.renditions[0].ssim is None and plain.renditions[0].psnr is None


def test_identical_pictures_score_one_and_a_capped_psnr(clip: Path) -> None:
    assert measure_quality(clip, clip, 320, 240) == (1.0, 100.0)


def test_a_file_that_is_not_a_video_gives_no_score(tmp_path: Path, clip: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    assert measure_quality(text, clip, 320, 240) is None


def test_renditions_measured_in_one_ffmpeg_score_as_they_do_alone(tmp_path: Path,
                                                                   clip: Path) -> None:
    small = tmp_path / "small.mp4"
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", str(clip), "-vf",
                    "scale=160:120", "-c:v", "libx264", "-b:v", "60k", "-an", str(small)],
                   check=True, timeout=60)
    renditions = [Measured(clip, 320, 240), Measured(small, 160, 120)]
    together = measure_qualities(renditions, clip)
    alone = [measure_quality(r.path, clip, r.width, r.height) for r in renditions]
    assert together == alone
    assert together[0] == (1.0, 100.0) and together[1] is not None and together[1][0] < 0.99
    broken = tmp_path / "broken.mp4"
    broken.write_text("not a video\n")
    # One unreadable rendition fails the shared FFmpeg: the others are measured alone.
    assert measure_qualities([renditions[1], Measured(broken, 160, 120)], clip) == [
        alone[1], None]
