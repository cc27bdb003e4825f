"""Resumable uploads against the real web tier: `ffcluster submit` killed half-way through
an upload, run again, resumes from the server's offset and ends in a job whose stored
source is the original, byte for byte; expired uploads lose their bytes."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from common.resumable import ResumableStore, ResumableUpload, partial_upload
from common.settings import Settings
from common.storage import LocalStorage
from tests.conftest import cluster_settings
from tests.support.files import uploads_dir
from tests.support.ports import wait_for
from tests.support.redis_server import RedisServer
from tests.support.web import WebProcess, start_web_with
from workers.runtime.retention import remove_expired_resumable_uploads

pytestmark = pytest.mark.timeout(180)
TUS = {"Tus-Resumable": "1.0.0"}
SIZE = 192 * 1024 * 1024


@pytest.fixture(scope="module")
def settings(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory,
             ladder_file: Path) -> Settings:
    return cluster_settings(redis_server.url, tmp_path_factory.mktemp("data"), ladder_file,
                            max_upload_mb=256)


@pytest.fixture(scope="module")
def web(settings: Settings) -> Iterator[WebProcess]:
    process = start_web_with(settings, "threading")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "camera master.mov"
    with path.open("wb") as out:
        for _ in range(SIZE // (8 << 20)):
            out.write(os.urandom(8 << 20))
    return path


def _submit(web: WebProcess, path: Path, state: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "submit", str(path), "--url", web.url, "--json",
         "--chunk-mb", "1", "--resume-file", str(state), "--profiles", "144p"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _uploads(settings: Settings) -> list[Path]:
    return sorted((uploads_dir(settings) / ".tus").glob("*.part"))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(8 << 20):
            digest.update(block)
    return digest.hexdigest()


def test_a_killed_submit_resumes_from_the_offset_and_the_job_has_the_original_bytes(
    web: WebProcess, settings: Settings, big_file: Path, tmp_path: Path
) -> None:
    state = tmp_path / "uploads.json"
    first = _submit(web, big_file, state)
    try:
        partial = wait_for(lambda: (found := _uploads(settings)) and
                           found[0].stat().st_size >= SIZE // 4 and found[0],
                           timeout=60, interval=0.005, message="a quarter uploaded")
        os.killpg(first.pid, signal.SIGKILL)  # the client dies mid-upload
    finally:
        first.wait(timeout=10)
    upload_id = partial.name.removesuffix(".part")
    head = requests.head(f"{web.url}/api/uploads/{upload_id}", headers=TUS, timeout=5)
    kept = int(head.headers["Upload-Offset"])
    assert SIZE // 4 <= kept < SIZE, kept
    assert requests.get(f"{web.url}/api/jobs/{upload_id}", timeout=5).status_code == 404

    second = _submit(web, big_file, state)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err.decode()
    job = requests.get(f"{web.url}/api/jobs/{upload_id}", timeout=5).json()
    assert out.decode().count(upload_id) >= 1  # the same upload, finished: not a new one
    assert (job["source_name"], job["size_bytes"], job["requested_profiles"]) == (
        "camera master.mov", SIZE, ["144p"])
    assert _sha256(uploads_dir(settings) / job["source_file"]) == _sha256(big_file)
    assert _uploads(settings) == []


def test_a_wrong_offset_against_the_real_server_is_409(web: WebProcess) -> None:
    created = requests.post(f"{web.url}/api/uploads", headers={
        **TUS, "Upload-Length": "1000", "Upload-Metadata": "filename YS5tcDQ="}, timeout=5)
    assert created.status_code == 201
    url = created.headers["Location"]
    patch = {**TUS, "Content-Type": "application/offset+octet-stream"}
    assert requests.patch(url, data=b"x" * 100, headers={**patch, "Upload-Offset": "0"},
                          timeout=5).status_code == 204
    wrong = requests.patch(url, data=b"x" * 100, headers={**patch, "Upload-Offset": "0"},
                           timeout=5)
    assert wrong.status_code == 409 and "at byte 100, not 0" in wrong.json()["error"]
    assert requests.head(url, headers=TUS, timeout=5).headers["Upload-Offset"] == "100"
    assert requests.delete(url, headers=TUS, timeout=5).status_code == 204


def test_the_worker_sweep_removes_expired_bytes(redis_server: RedisServer,
                                                tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    store = ResumableStore(redis.Redis.from_url(redis_server.url))
    old = ResumableUpload("expiredupload01", 10, expires_at=time.time() - 1)
    fresh = ResumableUpload("freshupload0001", 10, expires_at=time.time() + 3600)
    for upload in (old, fresh):
        store.create(upload)
        partial = partial_upload(storage, store, upload)
        partial.begin()
        partial.write(b"12345")
        assert partial.keep() == 5
    assert remove_expired_resumable_uploads(store, storage) == ["expiredupload01"]
    assert store.get("expiredupload01") is None and store.get("freshupload0001") is not None
    assert partial_upload(storage, store, old).size() == 0
    assert partial_upload(storage, store, fresh).size() == 5
