"""A per-title upload from the dashboard, and its chart: every rung's samples, the fixed
ladder's point, the chosen one and the measured one, drawn from the job JSON."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.support.media import STILL_PICTURE, make_clip
from tests.support.web import WebProcess
from tests.support.workers import WorkerProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def still_source(media_dir: Path) -> Path:
    return make_clip(media_dir / "browser-still.mp4", seconds=6, size="640x360",
                     video_filter=STILL_PICTURE)


def test_a_per_title_upload_draws_its_ladder(page: Page, web: WebProcess, worker: WorkerProcess,
                                             still_source: Path, artifacts: Path) -> None:
    page.goto(web.url)
    expect(page.locator("#conn-badge")).to_have_attribute("data-status", "online",
                                                          timeout=15_000)
    page.select_option("#ladder-select", "per-title")
    page.fill("#target-ssim", "0.97")
    page.set_input_files("#file-input", str(still_source))
    card = page.locator(".job").first
    expect(card).to_have_attribute("data-job-id", re.compile(r"^[0-9a-f]+$"), timeout=15_000)
    job_id = card.get_attribute("data-job-id")
    card = page.locator(f".job[data-job-id='{job_id}']")
    expect(card).to_have_attribute("data-state", "done", timeout=150_000)

    job = requests.get(f"{web.url}/api/jobs/{job_id}", timeout=10).json()
    assert job["ladder"] == "per-title" and job["target_ssim"] == 0.97
    rungs = job["per_title"]["rungs"]
    chart = card.locator("svg.ladder-chart")
    expect(chart).to_be_visible()
    expect(chart.locator("g.rung")).to_have_count(len(rungs))
    for rung in rungs:
        group = chart.locator(f"g.rung[data-profile='{rung['profile']}']")
        expect(group.locator("circle.sample")).to_have_count(len(rung["points"]))
        expect(group.locator("rect.fixed")).to_have_count(1)
        expect(group.locator("circle.chosen")).to_have_count(1)
        expect(group.locator("path.measured")).to_have_count(0 if rung["dropped"] else 1)
        item = card.locator(f".ladder-legend li[data-profile='{rung['profile']}']")
        if rung["dropped"]:
            expect(item).to_contain_text("dropped")
        else:
            expect(item).to_contain_text(f"{rung['encoded_kbps']} kb/s (fixed {rung['cap_kbps']}")
            assert rung["encoded_kbps"] < rung["cap_kbps"]
    chart.screenshot(path=str(artifacts / "per-title-chart.png"))
