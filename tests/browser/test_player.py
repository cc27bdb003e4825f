"""A finished job plays in the page: HLS served by the web tier, played with hls.js."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.support.ports import wait_for
from tests.support.web import WebProcess
from tests.support.workers import WorkerProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]


def test_finished_job_plays_two_seconds_in_the_page(
    page: Page, web: WebProcess, worker: WorkerProcess, source: Path, artifacts: Path
) -> None:
    with source.open("rb") as upload:
        created = requests.post(f"{web.url}/api/jobs", files={"file": upload},
                                data={"profiles": "240p,144p"}, timeout=30)
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]

    def finished() -> dict | None:
        job = requests.get(f"{web.url}/api/jobs/{job_id}", timeout=5).json()
        return job if job["state"] in ("done", "failed", "canceled") else None

    job = wait_for(finished, timeout=150, interval=0.5, message="job done")
    assert job["state"] == "done" and job["master_playlist"] == "hls/master.m3u8"

    page.goto(web.url)
    card = page.locator(f".job[data-job-id='{job_id}']")
    expect(card).to_have_attribute("data-state", "done", timeout=15_000)
    card.locator("button.play").click()
    expect(page.locator("#player-dialog")).to_be_visible()
    page.wait_for_function(
        "() => document.getElementById('player-video').currentTime >= 2", timeout=30_000)
    played = page.evaluate("""() => {
        const v = document.getElementById('player-video');
        return {time: v.currentTime, width: v.videoWidth, height: v.videoHeight,
                error: v.error && v.error.code};
    }""")
    assert played["error"] is None and played["time"] >= 2
    assert (played["width"], played["height"]) in {(426, 240), (256, 144)}
    assert page.locator("#player-status").inner_text() == ""
    page.screenshot(path=str(artifacts / "player.png"))
