"""Sources fetched from a URL by a real worker through the real web tier: the bytes stored
are the original's, the ingest phase is visible, and every refusal or failure is a
sentence in the job that leaves nothing behind."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from common.settings import Settings
from tests.conftest import cluster_settings
from tests.support.files import job_dir, uploads_dir
from tests.support.http_source import SourceServer, serve_sources
from tests.support.media import ffprobe, make_clip, stream
from tests.support.ports import wait_for
from tests.support.redis_server import RedisServer
from tests.support.web import WebProcess, start_web_with
from tests.support.workers import WorkerProcess, start_worker

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def settings(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory,
             ladder_file: Path) -> Settings:
    return cluster_settings(redis_server.url, tmp_path_factory.mktemp("data"), ladder_file,
                            ingest_allow="127.0.0.0/8", max_upload_mb=2)


@pytest.fixture(scope="module")
def cluster(settings: Settings, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[WebProcess, WorkerProcess]]:
    worker = start_worker(settings, tmp_path_factory.mktemp("logs"), "ingest")
    web = start_web_with(settings, "threading")
    yield web, worker
    web.stop()
    worker.stop()


@pytest.fixture(scope="module")
def server(media_dir: Path) -> Iterator[SourceServer]:
    root = media_dir / "served"
    root.mkdir()
    make_clip(root / "holiday.mp4", seconds=2)
    with serve_sources(root) as running:
        yield running


def _submit(web: WebProcess, url: str, **options: Any) -> dict[str, Any]:
    answer = requests.post(f"{web.url}/api/jobs", json={"source_url": url, **options},
                           timeout=10)
    assert answer.status_code == 202, answer.text
    return answer.json()


def _job(web: WebProcess, job_id: str) -> dict[str, Any]:
    return requests.get(f"{web.url}/api/jobs/{job_id}", timeout=5).json()


def _finished(web: WebProcess, job_id: str, timeout: float = 90) -> dict[str, Any]:
    return wait_for(lambda: (job := _job(web, job_id))["state"] in
                    ("done", "failed", "canceled") and job, timeout=timeout, interval=0.2,
                    message=f"job {job_id} to end")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_url_source_is_fetched_stored_whole_and_encoded(
    cluster: tuple[WebProcess, WorkerProcess], server: SourceServer, settings: Settings
) -> None:
    web, _ = cluster
    job = _finished(web, _submit(web, server.file_url("holiday.mp4"), profiles="144p")["id"])
    assert job["state"] == "done", job
    original = server.root / "holiday.mp4"
    stored = uploads_dir(settings) / job["source_file"]
    assert _sha256(stored) == _sha256(original)
    assert job["size_bytes"] == job["ingest_bytes"] == original.stat().st_size
    assert job["source_name"] == "holiday.mp4"
    video = stream(ffprobe(job_dir(settings, job["id"]) / "144p.mp4"), "video")
    assert video is not None and video["height"] == 144


def test_the_ingest_phase_shows_the_bytes_arriving(
    cluster: tuple[WebProcess, WorkerProcess], server: SourceServer
) -> None:
    web, _ = cluster
    job_id = _submit(web, f"{server.url}/slow/holiday.mp4?seconds=3", profiles="144p")["id"]
    seen = wait_for(lambda: (job := _job(web, job_id))["state"] == "ingesting"
                    and job["ingest_bytes"] > 0 and job, timeout=15, interval=0.05,
                    message="the ingest phase with bytes")
    total = (server.root / "holiday.mp4").stat().st_size
    assert seen["ingest_total"] == total and 0 < seen["ingest_bytes"] < total
    assert _finished(web, job_id)["state"] == "done"


@pytest.mark.parametrize(("path", "sentence"), [
    ("/redirect?to=http://169.254.169.254/latest/meta-data/", "is a link-local (cloud "
     "metadata) address (169.254.169.254)"),
    ("/status/404", "The source URL answered 404 Not Found."),
    (f"/chunked?bytes={3 * 1048576}", "larger than 2.0 MiB, the largest accepted"),
])
def test_refusals_and_failures_are_sentences_and_leave_nothing(
    cluster: tuple[WebProcess, WorkerProcess], server: SourceServer, settings: Settings,
    path: str, sentence: str
) -> None:
    web, _ = cluster
    job = _finished(web, _submit(web, server.url + path)["id"])
    assert job["state"] == "failed" and sentence in job["error"], job
    assert not (uploads_dir(settings) / job["source_file"]).exists()
    assert [p for p in uploads_dir(settings).iterdir() if job["id"] in p.name] == []


def test_a_private_address_is_refused_before_any_connection(
    cluster: tuple[WebProcess, WorkerProcess]
) -> None:
    web, _ = cluster
    job = _finished(web, _submit(web, "http://10.255.255.1:81/a.mp4")["id"], timeout=30)
    assert job["state"] == "failed"
    assert job["error"].startswith("The source URL's host '10.255.255.1' is a private address")


def test_a_job_canceled_while_its_source_arrives_stops_the_fetch(
    cluster: tuple[WebProcess, WorkerProcess], server: SourceServer, settings: Settings
) -> None:
    web, _ = cluster
    job_id = _submit(web, f"{server.url}/slow/holiday.mp4?seconds=6")["id"]
    wait_for(lambda: _job(web, job_id)["ingest_bytes"] > 0, timeout=15, interval=0.05,
             message="bytes arriving")
    assert requests.delete(f"{web.url}/api/jobs/{job_id}", timeout=5).status_code == 200
    job = _finished(web, job_id)
    assert job["state"] == "canceled" and job["renditions"] == []
    wait_for(lambda: not [p for p in uploads_dir(settings).iterdir()
                          if job_id in p.name], timeout=10, interval=0.1,
             message="the partial source removed")
