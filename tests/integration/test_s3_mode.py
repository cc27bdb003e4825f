"""`s3` storage end to end: a web tier and a worker that share no directory, only Redis and
a real S3 API (moto's server). Every file of a job is in the bucket; neither data dir holds one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from common.settings import Settings
from tests.conftest import cluster_settings
from tests.support.media import ffprobe, make_clip, stream
from tests.support.ports import wait_for
from tests.support.redis_server import RedisServer
from tests.support.s3 import S3Server
from tests.support.web import WebProcess, start_web_with
from tests.support.workers import REPO_ROOT, WorkerProcess, start_worker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

BUCKET = "media"


@pytest.fixture(scope="module")
def s3(s3_server: S3Server) -> S3Server:
    s3_server.create_bucket(BUCKET)
    return s3_server


def _s3_settings(s3: S3Server, redis_server: RedisServer, data_dir: Path, ladder: Path,
                 **overrides: Any) -> Settings:
    return cluster_settings(redis_server.url, data_dir, ladder, storage="s3", s3_bucket=BUCKET,
                            s3_endpoint_url=s3.url, s3_region="us-east-1", s3_part_mb=5,
                            scratch_dir=data_dir / "scratch", **overrides)


@pytest.fixture(scope="module")
def web_host(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("web-host")


@pytest.fixture(scope="module")
def worker_host(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("worker-host")


@pytest.fixture(scope="module")
def web(s3: S3Server, redis_server: RedisServer, web_host: Path,
        ladder_file: Path) -> Iterator[WebProcess]:
    settings = _s3_settings(s3, redis_server, web_host, ladder_file, max_upload_mb=6)
    process = start_web_with(settings, "threading")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def worker(s3: S3Server, redis_server: RedisServer, worker_host: Path, ladder_file: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    settings = _s3_settings(s3, redis_server, worker_host, ladder_file)
    process = start_worker(settings, tmp_path_factory.mktemp("logs"), "s3w1")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def source(media_dir: Path) -> Path:
    return make_clip(media_dir / "s3-mode.mp4", seconds=6, size="640x360")


def _submit(web: WebProcess, clip: Path, **fields: str) -> dict[str, Any]:
    with clip.open("rb") as handle:
        response = requests.post(f"{web.url}/api/jobs", files={"file": ("Show.mp4", handle)},
                                 data=fields, timeout=30)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]

    def finished() -> dict[str, Any] | None:
        job = requests.get(f"{web.url}/api/jobs/{job_id}", timeout=5).json()
        return job if job["state"] in ("done", "failed", "canceled") else None

    job = wait_for(finished, timeout=180, interval=0.2, message=f"job {job_id}")
    assert job["state"] == "done", job
    return job


def _files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_every_file_of_a_job_is_in_the_bucket_and_served_from_it(
    web: WebProcess, worker: WorkerProcess, s3: S3Server, source: Path, web_host: Path,
    worker_host: Path, tmp_path: Path,
) -> None:
    job = _submit(web, source, profiles="240p,144p", hls="true")
    job_id = job["id"]
    keys = s3.keys(BUCKET, "ffcluster/")
    assert f"ffcluster/uploads/{job['source_file']}" in keys
    outputs = [k.removeprefix(f"ffcluster/outputs/{job_id}/") for k in keys
               if k.startswith(f"ffcluster/outputs/{job_id}/")]
    for name in ("240p.mp4", "144p.mp4", "poster.jpg", "hls/master.m3u8",
                 "hls/240p/index.m3u8", "hls/144p/index.m3u8"):
        assert name in outputs, outputs
    assert any(name.startswith("hls/240p/") and name.endswith(".m4s") for name in outputs)
    assert not any("/." in f"/{name}" or name.endswith(".part") for name in outputs), outputs
    assert s3.unfinished_uploads(BUCKET) == []

    for rendition in job["renditions"]:
        url = f"{web.url}/api/jobs/{job_id}/outputs/{rendition['output']}"
        part = requests.get(url, headers={"Range": "bytes=0-11"}, timeout=10)
        assert part.status_code == 206 and part.content[4:8] == b"ftyp"
        assert part.headers["Content-Range"].endswith(f"/{rendition['size_bytes']}")
        local = tmp_path / rendition["output"]
        local.write_bytes(requests.get(url, timeout=10).content)
        video = stream(ffprobe(local), "video")
        assert video is not None and video["height"] == rendition["height"]
        assert rendition["codecs"].startswith("avc1.") and rendition["bandwidth"] > 0
    master = requests.get(f"{web.url}/api/jobs/{job_id}/outputs/{job['master_playlist']}",
                          timeout=10)
    assert master.status_code == 200 and "CODECS=\"avc1." in master.text
    assert master.headers["Content-Type"] == "application/vnd.apple.mpegurl"
    assert requests.get(f"{web.url}/api/jobs/{job_id}/outputs/none.mp4",
                        timeout=10).status_code == 404

    assert not (web_host / "uploads").exists() and not (web_host / "outputs").exists()
    assert not (worker_host / "uploads").exists() and not (worker_host / "outputs").exists()
    assert _files_under(worker_host / "scratch" / "tasks") == []
    wait_for(lambda: _files_under(worker_host / "scratch" / "cache") == [], timeout=10,
             message="the worker's cached source removed once the job ended")


def test_a_split_and_stitched_job_leaves_only_its_outputs(
    web: WebProcess, worker: WorkerProcess, s3: S3Server, source: Path,
) -> None:
    job = _submit(web, source, profiles="240p", hls="false", chunk_seconds="2")
    [rendition] = job["renditions"]
    assert rendition["chunks"] >= 2
    keys = s3.keys(BUCKET, f"ffcluster/outputs/{job['id']}/")
    assert keys == [f"ffcluster/outputs/{job['id']}/240p.mp4",
                    f"ffcluster/outputs/{job['id']}/poster.jpg"]


def test_an_upload_over_the_limit_leaves_nothing_in_the_bucket(
    web: WebProcess, s3: S3Server,
) -> None:
    before = s3.keys(BUCKET, "ffcluster/uploads/")
    boundary = "XBOUNDARY"

    def body() -> Iterator[bytes]:  # chunked: no Content-Length to refuse it early
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
               f"filename=\"big.mp4\"\r\n\r\n").encode()
        for _ in range(10):
            yield os.urandom(1024 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    response = requests.post(f"{web.url}/api/jobs", data=body(), timeout=30,
                             headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 413 and "larger than 6 MiB" in response.json()["error"]
    assert s3.keys(BUCKET, "ffcluster/uploads/") == before
    assert s3.unfinished_uploads(BUCKET) == []


@pytest.mark.parametrize("command", ["web", "worker"])
def test_a_missing_bucket_stops_start_up_with_one_sentence(
    s3: S3Server, redis_server: RedisServer, tmp_path: Path, command: str,
) -> None:
    settings = Settings.from_env({}, redis_url=redis_server.url, data_dir=tmp_path,
                                 storage="s3", s3_bucket="no-such-bucket",
                                 s3_endpoint_url=s3.url, s3_region="us-east-1")
    env = {**os.environ, **settings.environment(), "FFCLUSTER_PORT": "0"}
    done = subprocess.run([sys.executable, "-m", "cli.main", command], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("ffcluster")]
    assert lines == [f"ffcluster: The bucket 'no-such-bucket' at {s3.url} does not exist."], (
        done.stderr)
