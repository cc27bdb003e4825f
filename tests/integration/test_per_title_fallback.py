"""A per-title job whose analysis cannot run is not lost: it is encoded with the fixed
ladder, and its record says why (its own module: its worker has no usable scratch folder)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from common.pertitle import LadderMode
from common.settings import Settings
from tests.conftest import cluster_settings
from tests.support.jobs import TEST_LADDER, submit, wait_for_job
from tests.support.redis_server import RedisServer
from tests.support.workers import WorkerProcess


@pytest.fixture(scope="module")
def broken_scratch_settings(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory,
                            ladder_file: Path) -> Settings:
    blocker = tmp_path_factory.mktemp("scratch") / "a-file"
    blocker.write_text("not a folder\n")
    return cluster_settings(redis_server.url, tmp_path_factory.mktemp("data"), ladder_file,
                            scratch_dir=blocker / "scratch")


def test_a_failed_analysis_falls_back_to_the_fixed_ladder_and_says_why(
        broken_scratch_settings: Settings, worker_factory: Callable[..., WorkerProcess],
        clip: Path) -> None:
    worker_factory(broken_scratch_settings)
    job = wait_for_job(broken_scratch_settings, submit(
        broken_scratch_settings, clip, ladder=LadderMode.PER_TITLE).id, timeout=120)
    assert job.per_title is not None and job.per_title.rungs == []
    assert job.per_title.note and "samples could not be written" in job.per_title.note
    assert "fixed ladder" in job.per_title.note
    caps = {p["name"]: p["video_bitrate_kbps"] for p in TEST_LADDER["profiles"]}
    for rendition in job.renditions:
        assert (rendition.target or {})["video_bitrate_kbps"] == caps[rendition.profile]
        assert rendition.quality_note is None
