"""Play a finished job in the dashboard's player and report what the video element shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests
from playwright.sync_api import Page, expect

from tests.support.ports import wait_for


def submit_and_finish(web_url: str, source: Path, profiles: str) -> dict[str, Any]:
    """Upload ``source`` through the API and wait until its job ends; return the job."""
    with source.open("rb") as upload:
        created = requests.post(f"{web_url}/api/jobs", files={"file": upload},
                                data={"profiles": profiles}, timeout=30)
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]

    def finished() -> dict[str, Any] | None:
        job = requests.get(f"{web_url}/api/jobs/{job_id}", timeout=5).json()
        return job if job["state"] in ("done", "failed", "canceled") else None

    return wait_for(finished, timeout=150, interval=0.5, message="job done")


def play_two_seconds(page: Page, web_url: str, job_id: str, fmt: str = "hls",
                     rendition: str = "") -> dict[str, Any]:
    """Open the dashboard, press the job's Play, choose the format and rendition, and wait
    until 2 s of it have played; report the video element and the segments fetched."""
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    page.goto(web_url)
    card = page.locator(f".job[data-job-id='{job_id}']")
    expect(card).to_have_attribute("data-state", "done", timeout=15_000)
    card.locator("button.play").click()
    expect(page.locator("#player-dialog")).to_be_visible()
    if fmt != "hls":
        page.select_option("#player-format", fmt)
    if rendition:
        page.select_option("#player-rendition", rendition)
    fetched.clear()  # what the player asks for from here on is the chosen format's doing
    page.wait_for_function(
        "() => document.getElementById('player-video').currentTime >= 2", timeout=30_000)
    played: dict[str, Any] = page.evaluate("""() => {
        const v = document.getElementById('player-video');
        return {time: v.currentTime, width: v.videoWidth, height: v.videoHeight,
                error: v.error && v.error.code};
    }""")
    played["status"] = page.locator("#player-status").inner_text()
    played["segments"] = [url.split("/outputs/", 1)[1] for url in fetched
                          if "/outputs/" in url and url.endswith(".m4s")]
    return played
