"""A finished job plays in the page: HLS served by the web tier, played with hls.js."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.support.player import play_two_seconds, submit_and_finish
from tests.support.web import WebProcess
from tests.support.workers import WorkerProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]


def test_finished_job_plays_two_seconds_in_the_page(
    page: Page, web: WebProcess, worker: WorkerProcess, source: Path, artifacts: Path
) -> None:
    job = submit_and_finish(web.url, source, "240p,144p")
    assert job["state"] == "done" and job["master_playlist"] == "hls/master.m3u8"
    played = play_two_seconds(page, web.url, job["id"])
    assert played["error"] is None and played["time"] >= 2
    assert (played["width"], played["height"]) in {(426, 240), (256, 144)}
    assert played["status"] == ""
    page.screenshot(path=str(artifacts / "player.png"))
