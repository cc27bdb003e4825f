"""Two copies of the finalize step packaging one job at once (a finalize sent twice by two
renditions ending together) both succeed and leave one complete audio rendition, poster
and master playlist, with no staging files behind."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common.jobs import AudioRendition
from tests.support.manifests import stream_types
from tests.support.media import make_clip
from workers.ffmpeg.hls import Variant, package_audio, write_master
from workers.ffmpeg.poster import Poster


def test_two_packagings_of_one_job_at_once_both_succeed(tmp_path: Path) -> None:
    video = make_clip(tmp_path / "240p.mp4", seconds=2, size="320x240")
    job_dir = tmp_path / "job"
    (job_dir / "hls").mkdir(parents=True)
    variants = [Variant("hls/240p/index.m3u8", 1, 1, 320, 240, "avc1.64000d,mp4a.40.2", 25)]
    audio = AudioRendition("hls/audio/index.m3u8", 1, 1, "mp4a.40.2", 48000, 2)

    def package(_: int) -> tuple[str, str | None, str]:
        with Poster(video, job_dir / "poster.jpg", 2.0, "ffmpeg") as poster:  # as finalize
            return (package_audio(video, job_dir, 1, "ffmpeg"), poster.finish(),
                    write_master(job_dir, variants, audio))

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(package, range(8)))
    assert set(results) == {("hls/audio/index.m3u8", "poster.jpg", "hls/master.m3u8")}
    assert stream_types(job_dir / "hls" / "audio" / "init.mp4") == ["audio"]
    assert (job_dir / "hls" / "audio" / "index.m3u8").read_text().endswith("#EXT-X-ENDLIST\n")
    assert (job_dir / "poster.jpg").stat().st_size > 0
    leftovers = [p.name for p in [*job_dir.iterdir(), *(job_dir / "hls").iterdir()]
                 if p.name.startswith(".")]
    assert leftovers == []
