"""AV1 and H.264 renditions of one job play in headless Chromium, through HLS (hls.js) and
through DASH (dash.js) over the same CMAF segments, each rendition pinned in the player."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from common.settings import Settings
from tests.conftest import cluster_settings
from tests.support.media import make_clip
from tests.support.player import play_two_seconds, submit_and_finish
from tests.support.redis_server import RedisServer
from tests.support.web import WebProcess
from tests.support.workers import WorkerProcess, start_worker

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

LADDER = {"profiles": [
    {"name": "av1-180p", "height": 180, "video_bitrate_kbps": 200, "codec": "av1",
     "preset": "12"},
    {"name": "h264-144p", "height": 144, "video_bitrate_kbps": 150, "preset": "ultrafast"},
]}
SIZES = {"av1-180p": (240, 180), "h264-144p": (192, 144)}


@pytest.fixture(scope="module")
def settings(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    ladder = tmp_path_factory.mktemp("ladder") / "av1-and-h264.json"
    ladder.write_text(json.dumps(LADDER))
    return cluster_settings(redis_server.url, tmp_path_factory.mktemp("data"), ladder,
                            segment_seconds=1)


@pytest.fixture(scope="module")
def worker(settings: Settings, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[WorkerProcess]:
    process = start_worker(settings, tmp_path_factory.mktemp("logs"), "codec-player")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def job(web: WebProcess, worker: WorkerProcess, media_dir: Path) -> dict[str, Any]:
    source = make_clip(media_dir / "player-codecs.mp4", seconds=5, size="320x240")
    finished = submit_and_finish(web.url, source, "av1-180p,h264-144p")
    assert finished["state"] == "done", finished
    assert finished["dash_manifest"] == "hls/manifest.mpd"
    return finished


@pytest.mark.parametrize(("fmt", "rendition"), [
    ("hls", "av1-180p"), ("dash", "av1-180p"), ("dash", "h264-144p")])
def test_a_pinned_rendition_plays_two_seconds(
    page: Page, web: WebProcess, job: dict[str, Any], fmt: str, rendition: str,
    artifacts: Path
) -> None:
    played = play_two_seconds(page, web.url, job["id"], fmt, rendition)
    assert played["error"] is None and played["status"] == "" and played["time"] >= 2
    assert (played["width"], played["height"]) == SIZES[rendition]
    video = [s for s in played["segments"] if "/audio/" not in s]
    assert video and all(f"/hls/{rendition}/" in f"/{s}" for s in video), video
    assert any("/audio/" in s for s in played["segments"])  # the separate audio rendition
    page.screenshot(path=str(artifacts / f"player-{fmt}-{rendition}.png"))
