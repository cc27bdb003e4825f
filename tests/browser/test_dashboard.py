"""The dashboard in headless Chromium: live badge, upload, moving bars, done, download."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests
import socketio
from playwright.sync_api import Page, expect

from common import keys
from common.events import EventEmitter, job_event, job_room
from common.jobs import Job, Rendition
from common.settings import Settings
from common.states import JobState, RenditionState
from common.store import JobStore
from tests.conftest import cluster_settings
from tests.support.ports import wait_for
from tests.support.redis_server import start_redis
from tests.support.web import WebProcess, start_web_with
from tests.support.workers import WorkerProcess, check_codec_choice

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

RECORD_PERCENTS = """() => {
  window.__percents = [];
  const seen = (el) => window.__percents.push([el.dataset.profile, Number(el.dataset.percent)]);
  new MutationObserver((records) => {
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (!(node instanceof HTMLElement)) continue;
        if (node.matches('.rendition')) seen(node);
        node.querySelectorAll('.rendition').forEach(seen);
      }
    }
  }).observe(document.getElementById('jobs'), {childList: true, subtree: true});
}"""


def test_page_loads_online_with_workers(page: Page, web: WebProcess, worker: WorkerProcess
                                        ) -> None:
    page.goto(web.url)
    badge = page.locator("#conn-badge")
    expect(badge).to_have_attribute("data-status", "online", timeout=15_000)
    expect(badge).to_have_text("Online")
    card = page.locator(".worker[data-online='true']").first
    expect(card).to_be_visible(timeout=15_000)
    expect(card.locator(".tag")).to_have_text("GPU")
    expect(card.locator(".w-encoders code").first).to_be_visible()
    expect(page.locator("#profile-choices input")).to_have_count(3)


def test_upload_moves_bars_to_done_and_downloads(
    page: Page, web: WebProcess, worker: WorkerProcess, source: Path, artifacts: Path
) -> None:
    page.goto(web.url)
    expect(page.locator("#conn-badge")).to_have_attribute("data-status", "online",
                                                          timeout=15_000)
    page.evaluate(RECORD_PERCENTS)
    page.locator("#profile-choices input[value='360p']").uncheck()
    page.set_input_files("#file-input", str(source))

    job = page.locator(".job").first
    expect(job).to_have_attribute("data-job-id", re.compile(r"^[0-9a-f]+$"), timeout=15_000)
    job_id = job.get_attribute("data-job-id")
    card = page.locator(f".job[data-job-id='{job_id}']")
    expect(card).to_have_attribute("data-state", "done", timeout=150_000)
    expect(card.locator(".rendition")).to_have_count(2)
    for rendition in card.locator(".rendition").all():
        expect(rendition).to_have_attribute("data-percent", "100.0")

    percents: list[list[object]] = page.evaluate("window.__percents")
    rising = [p for _, p in percents if 0 < float(p) < 100]  # type: ignore[arg-type]
    assert rising, percents
    for profile in ("240p", "144p"):
        mine = [float(p) for name, p in percents if name == profile]  # type: ignore[arg-type]
        assert mine == sorted(mine), (profile, mine)

    job = requests.get(f"{web.url}/api/jobs/{job_id}", timeout=10).json()
    for rendition in job["renditions"]:
        check_codec_choice(rendition, worker)
    failed = [r for r in job["renditions"] if r["fallbacks"]]
    if failed:  # no GPU here: the card says which encoder failed and which one was used
        fallback = card.locator(".fallback").first
        expect(fallback).to_contain_text(f"{failed[0]['fallbacks'][0]['codec']} failed:")
        expect(fallback).to_contain_text(f"used {failed[0]['codec']}")
    poster = card.locator("img.poster")
    expect(poster).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=poster.element_handle())

    link = card.locator(".rendition[data-profile='144p'] a.download")
    with page.expect_download() as info:
        link.click()
    download = info.value
    saved = artifacts / f"download-{download.suggested_filename}"
    download.save_as(saved)
    assert saved.read_bytes()[4:8] == b"ftyp"
    page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)


def test_cancel_and_retry_buttons(page: Page, web: WebProcess, worker: WorkerProcess,
                                  source: Path) -> None:
    page.goto(web.url)
    expect(page.locator("#conn-badge")).to_have_attribute("data-status", "online",
                                                          timeout=15_000)
    page.set_input_files("#file-input", str(source))
    job = page.locator(".job").first
    expect(job.locator("button.cancel")).to_be_visible(timeout=15_000)
    job_id = job.get_attribute("data-job-id")
    card = page.locator(f".job[data-job-id='{job_id}']")
    card.locator("button.cancel").click()
    expect(card).to_have_attribute("data-state", "canceled", timeout=15_000)
    card.locator("button.retry").click()
    expect(card).to_have_attribute("data-state", "done", timeout=150_000)


def test_badge_follows_the_server_and_resyncs(
    page: Page, settings: Settings, worker: WorkerProcess
) -> None:
    web = start_web_with(settings, "threading")
    port = int(web.url.rsplit(":", 1)[1])
    try:
        page.goto(web.url)
        badge = page.locator("#conn-badge")
        expect(badge).to_have_attribute("data-status", "online", timeout=15_000)
        web.stop()
        expect(badge).to_have_attribute("data-status", "reconnecting", timeout=15_000)
        expect(badge).to_have_text("Reconnecting")
        # A job recorded while the page had no server: only a resync can show it.
        missed = JobStore(redis.Redis.from_url(settings.effective_redis_url)).create(
            Job.new("made-while-away.mp4", "made-while-away.mp4", state=JobState.FAILED,
                    error="recorded while the web tier was down"))
        web = start_web_with(settings, "threading", port=port)
        expect(badge).to_have_attribute("data-status", "online", timeout=30_000)
        expect(page.locator(f".job[data-job-id='{missed.id}']")).to_be_visible(timeout=15_000)
    finally:
        web.stop()


def test_badge_follows_a_redis_restart_and_the_list_is_right_after(
    page: Page, tmp_path: Path, ladder_file: Path,
) -> None:
    server = start_redis(tmp_path / "redis", appendonly=True)
    settings = cluster_settings(server.url, tmp_path / "data", ladder_file)
    web = start_web_with(settings, "threading")
    try:
        kept = JobStore(server.client()).create(
            Job.new("kept.mp4", "kept.mp4", state=JobState.FAILED, error="before the restart"))
        page.goto(web.url)
        badge = page.locator("#conn-badge")
        expect(badge).to_have_attribute("data-status", "online", timeout=15_000)
        expect(page.locator(f".job[data-job-id='{kept.id}']")).to_be_visible(timeout=15_000)
        server.stop()  # SIGTERM: Redis writes its append-only file and exits
        expect(badge).to_have_attribute("data-status", "reconnecting", timeout=15_000)
        expect(badge).to_have_text("Reconnecting")
        server = start_redis(tmp_path / "redis", appendonly=True, port=server.port)
        # Recorded without an event: only the resync that follows Online can show it.
        missed = JobStore(server.client()).create(
            Job.new("after.mp4", "after.mp4", state=JobState.FAILED, error="after the restart"))
        expect(badge).to_have_attribute("data-status", "online", timeout=30_000)
        expect(page.locator(f".job[data-job-id='{missed.id}']")).to_be_visible(timeout=15_000)
        expect(page.locator(f".job[data-job-id='{kept.id}']")).to_be_visible()
        assert page.locator(".job").count() == 2
    finally:
        web.stop()
        server.stop()


def test_token_is_asked_once_and_kept(page: Page, settings: Settings) -> None:
    web = start_web_with(settings.with_overrides(api_token="browser-token"), "threading")
    try:
        page.goto(web.url)
        dialog = page.locator("#token-dialog")
        expect(dialog).to_be_visible(timeout=15_000)
        expect(page.locator("#conn-badge")).to_have_attribute("data-status", "offline")
        page.fill("#token-input", "browser-token")
        page.click("#token-form button[type=submit]")
        expect(page.locator("#conn-badge")).to_have_attribute("data-status", "online",
                                                              timeout=15_000)
        assert page.evaluate("localStorage.getItem('ffcluster.token')") == "browser-token"
        page.reload()
        expect(page.locator("#conn-badge")).to_have_attribute("data-status", "online",
                                                              timeout=15_000)
        expect(dialog).to_be_hidden()
    finally:
        web.stop()


@contextlib.contextmanager
def encoding_job_alone(tmp_path: Path, ladder_file: Path,
                       name: str) -> Iterator[tuple[Settings, WebProcess, Job]]:
    """A web tier on its own Redis with one job encoding its 480p rendition and no worker:
    nothing but the test's own events moves it."""
    server = start_redis(tmp_path / "redis")
    web = None
    try:
        settings = cluster_settings(server.url, tmp_path / "data", ladder_file)
        web = start_web_with(settings, "threading")
        job = Job.new(name, name, state=JobState.ENCODING)
        job.renditions = [Rendition("480p", state=RenditionState.ENCODING)]
        JobStore(server.client()).create(job)
        yield settings, web, job
    finally:
        if web is not None:
            web.stop()
        server.stop()


def test_a_cancel_pressed_before_a_redraw_and_released_after_it_still_cancels(
    page: Page, tmp_path: Path, ladder_file: Path,
) -> None:
    """Every job event redraws the job's card. A click is a press and a release on one
    button: the card keeps its buttons when they stay the same, so a redraw between the two
    does not swallow the click (it did: a fresh-clone run lost the Cancel of a fast job)."""
    with encoding_job_alone(tmp_path, ladder_file, "redrawn.mp4") as (settings, web, job):
        emitter = EventEmitter(settings.effective_redis_url)
        page.goto(web.url)
        card = page.locator(f".job[data-job-id='{job.id}']")
        cancel = card.locator("button.cancel")
        expect(cancel).to_be_visible(timeout=15_000)
        box = cancel.bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        job.error = "redrawn by a job event"

        def redrawn() -> bool:  # sent until the page has drawn it
            job.updated_at = time.time()
            emitter.emit(job_event(job))
            return card.locator(".job-error").count() == 1

        wait_for(redrawn, timeout=15, interval=0.25, message="the card redrawn")
        page.mouse.up()
        expect(card).to_have_attribute("data-state", "canceled", timeout=15_000)


def test_a_version_1_progress_event_still_moves_its_row(
    page: Page, tmp_path: Path, ladder_file: Path,
) -> None:
    """A worker not yet upgraded (mid rolling deploy) sends one rendition per event, at
    ``v`` 1 with ``profile`` at the top; the dashboard applies it like a version-2 one."""
    with encoding_job_alone(tmp_path, ladder_file, "rolling.mp4") as (settings, web, job):
        emitter = socketio.RedisManager(settings.effective_redis_url,
                                        channel=keys.SOCKETIO_CHANNEL, write_only=True)
        page.goto(web.url)
        row = page.locator(f".job[data-job-id='{job.id}'] .rendition[data-profile='480p']")
        expect(row).to_have_attribute("data-percent", "0.0", timeout=15_000)

        def moved() -> bool:  # sent until the page has joined the job's room and shown it
            emitter.emit("progress", {"v": 1, "type": "progress", "ts": time.time(),
                                      "job_id": job.id, "profile": "480p", "percent": 42.5,
                                      "fps": 61.0, "speed": 2.4, "eta_s": 3.0},
                         namespace="/", room=job_room(job.id))
            return row.get_attribute("data-percent") == "42.5"

        wait_for(moved, timeout=15, interval=0.25, message="the version-1 event shown")
        expect(page.locator(f".job[data-job-id='{job.id}'] .job-percent")).to_have_text("42.5%")
