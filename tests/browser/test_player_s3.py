"""An `s3` job plays in the page: the web tier streams playlist and segments from the bucket.

The web tier and the worker have data directories of their own and share only Redis and
the bucket (moto's S3 server), so every byte the player gets came through the object store.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from common.settings import Settings
from tests.conftest import cluster_settings
from tests.support.player import play_two_seconds, submit_and_finish
from tests.support.redis_server import RedisServer
from tests.support.s3 import S3Server
from tests.support.web import WebProcess, start_web_with
from tests.support.workers import WorkerProcess, start_worker

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]


def _s3_settings(redis_server: RedisServer, s3: S3Server, host: Path, ladder: Path) -> Settings:
    return cluster_settings(redis_server.url, host, ladder, storage="s3", s3_bucket="player",
                            s3_endpoint_url=s3.url, s3_region="us-east-1",
                            scratch_dir=host / "scratch")


@pytest.fixture(scope="module")
def settings(redis_server: RedisServer, s3_server: S3Server, ladder_file: Path,
             tmp_path_factory: pytest.TempPathFactory) -> Settings:
    s3_server.create_bucket("player")
    return _s3_settings(redis_server, s3_server, tmp_path_factory.mktemp("web-host"),
                        ladder_file)


@pytest.fixture(scope="module")
def worker(redis_server: RedisServer, s3_server: S3Server, ladder_file: Path,
           settings: Settings, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[WorkerProcess]:
    host = tmp_path_factory.mktemp("worker-host")
    process = start_worker(_s3_settings(redis_server, s3_server, host, ladder_file),
                           host / "logs", "s3player")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def web(settings: Settings) -> Iterator[WebProcess]:
    process = start_web_with(settings, "threading")
    yield process
    process.stop()


def test_an_s3_job_plays_two_seconds_in_the_page(
    page: Page, web: WebProcess, worker: WorkerProcess, source: Path, settings: Settings,
    s3_server: S3Server, artifacts: Path,
) -> None:
    job = submit_and_finish(web.url, source, "240p,144p")
    assert job["state"] == "done" and job["master_playlist"] == "hls/master.m3u8"
    assert f"ffcluster/outputs/{job['id']}/hls/master.m3u8" in s3_server.keys("player")
    assert not (settings.data_dir / "outputs").exists()
    played = play_two_seconds(page, web.url, job["id"])
    assert played["error"] is None and played["time"] >= 2
    assert (played["width"], played["height"]) in {(426, 240), (256, 144)}
    assert played["status"] == ""
    page.screenshot(path=str(artifacts / "player-s3.png"))
