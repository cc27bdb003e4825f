"""The dashboard's uploads are resumable: a page reloaded half-way through an upload, given
the same file again, resumes at the server's offset (one upload, not two), and the job's
stored source is the original byte for byte."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, Route

from common.settings import Settings
from tests.support.files import uploads_dir
from tests.support.web import WebProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]
SIZE = 24 * 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture(scope="module")
def settings(gpu_settings: Settings) -> Settings:
    return gpu_settings.with_overrides(upload_chunk_mb=1)  # 24 PATCHes of 1 MiB each


def _slow_patches(route: Route) -> None:
    if route.request.method == "PATCH":
        time.sleep(0.15)  # a slow uplink: the reload lands mid-upload
    route.continue_()


A_QUARTER_SENT = "() => parseInt(document.querySelector('#uploads .u-status').textContent) >= 25"


def test_a_reloaded_page_resumes_the_upload_when_given_the_file_again(
    page: Page, web: WebProcess, settings: Settings, tmp_path: Path
) -> None:
    source = tmp_path / "camera.mov"
    source.write_bytes(os.urandom(SIZE))
    created: list[str] = []
    page.on("response", lambda r: created.append(r.headers.get("location", ""))
            if r.request.method == "POST" and r.url.endswith("/api/uploads") else None)
    page.route("**/api/uploads/**", _slow_patches)
    page.goto(web.url)
    page.set_input_files("#file-input", str(source))
    page.wait_for_function(A_QUARTER_SENT, timeout=30_000)
    page.reload()
    [location] = created
    upload_id = location.rsplit("/", 1)[1]
    kept = int(requests.head(location, headers=TUS, timeout=5).headers["Upload-Offset"])
    assert SIZE // 4 <= kept < SIZE, kept

    page.set_input_files("#file-input", str(source))  # the same file, after the reload
    page.wait_for_function(
        "() => /queued as/.test(document.querySelector('#uploads .u-status').textContent)",
        timeout=60_000)
    assert created == [location]  # resumed, not created again
    status = page.locator("#uploads .u-status").first.inner_text()
    assert status == f"queued as {upload_id}"
    job = requests.get(f"{web.url}/api/jobs/{upload_id}", timeout=5).json()
    assert (job["source_name"], job["size_bytes"]) == ("camera.mov", SIZE)
    stored = uploads_dir(settings) / job["source_file"]
    assert hashlib.sha256(stored.read_bytes()).digest() == hashlib.sha256(
        source.read_bytes()).digest()
