"""HLS output: a valid master playlist, aligned keyframes, every segment starting on one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from common.jobs import Job
from common.settings import Settings
from tests.support.files import job_dir
from tests.support.jobs import submit, wait_for_job
from tests.support.media import keyframe_times, make_clip, playlist_attributes
from tests.support.workers import WorkerProcess


@pytest.fixture(scope="module")
def hls_job(gpu_settings: Settings, gpu_worker: WorkerProcess, media_dir: Path) -> Job:
    source = make_clip(media_dir / "hls-source.mp4", seconds=10, size="640x360",
                       extra=["-g", "250"])  # the source's own keyframes are not on 4 s
    return wait_for_job(gpu_settings, submit(gpu_settings, source).id, timeout=120)


def _first_frame_is_key(init: Path, segment: Path, scratch: Path) -> bool:
    joined = scratch / f"{segment.parent.name}-{segment.stem}.mp4"
    joined.write_bytes(init.read_bytes() + segment.read_bytes())
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v", "-read_intervals", "%+#1",
         "-show_entries", "frame=key_frame", "-of", "csv=p=0", str(joined)],
        check=True, capture_output=True, text=True).stdout
    return out.split()[0].strip(",") == "1"


def test_master_playlist_lists_every_rendition_with_its_facts(
    gpu_settings: Settings, hls_job: Job
) -> None:
    folder = job_dir(gpu_settings, hls_job.id)
    assert hls_job.master_playlist == "hls/master.m3u8"
    lines = (folder / hls_job.master_playlist).read_text().splitlines()
    assert lines[0] == "#EXTM3U"
    variants = [(playlist_attributes(line), lines[i + 1]) for i, line in enumerate(lines)
                if line.startswith("#EXT-X-STREAM-INF:")]
    by_uri = {uri: attrs for attrs, uri in variants}
    assert set(by_uri) == {f"{r.profile}/index.m3u8" for r in hls_job.renditions}
    for rendition in hls_job.renditions:
        attrs = by_uri[f"{rendition.profile}/index.m3u8"]
        assert attrs["RESOLUTION"] == f"{rendition.width}x{rendition.height}"
        assert int(attrs["BANDWIDTH"]) >= int(attrs["AVERAGE-BANDWIDTH"]) > 10_000
        assert attrs["CODECS"].startswith("avc1.64") and attrs["CODECS"].endswith(",mp4a.40.2")
        assert attrs["FRAME-RATE"] == "25.000"
        assert rendition.playlist == f"hls/{rendition.profile}/index.m3u8"


def test_segments_are_fixed_length_and_each_starts_on_a_keyframe(
    gpu_settings: Settings, hls_job: Job, tmp_path: Path
) -> None:
    folder = job_dir(gpu_settings, hls_job.id)
    for rendition in hls_job.renditions:
        playlist = folder / str(rendition.playlist)
        text = playlist.read_text()
        assert "#EXT-X-TARGETDURATION:4" in text and "#EXT-X-ENDLIST" in text
        durations = [float(line.split(":")[1].rstrip(",")) for line in text.splitlines()
                     if line.startswith("#EXTINF:")]
        assert durations[:-1] == [4.0] * (len(durations) - 1)
        assert abs(sum(durations) - 10.0) < 0.1
        segments = [playlist.parent / line for line in text.splitlines()
                    if line.endswith(".m4s")]
        assert len(segments) == 3
        init = playlist.parent / "init.mp4"
        assert all(_first_frame_is_key(init, segment, tmp_path) for segment in segments)


def test_keyframes_are_at_the_same_times_in_every_rendition(
    gpu_settings: Settings, hls_job: Job
) -> None:
    folder = job_dir(gpu_settings, hls_job.id)
    times = {r.profile: keyframe_times(folder / str(r.output)) for r in hls_job.renditions}
    assert len(times) == 3
    assert all(t == [0.0, 4.0, 8.0] for t in times.values()), times


def test_hls_can_be_turned_off_per_job(
    gpu_settings: Settings, gpu_worker: WorkerProcess, clip: Path
) -> None:
    done = wait_for_job(gpu_settings, submit(gpu_settings, clip, profiles=["144p"], hls=False).id)
    assert done.renditions[0].state == "done" and done.renditions[0].playlist is None
    assert done.master_playlist is None
    assert not (job_dir(gpu_settings, done.id) / "hls").exists()
