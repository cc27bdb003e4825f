"""Output downloads: whole files, byte ranges, and nothing outside the job's output dir."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from common.jobs import Job
from common.store import JobStore
from tests.support.files import job_dir
from web.context import web_context

CONTENT = bytes(range(256)) * 16


@pytest.fixture
def job_with_outputs(app: Flask) -> Job:
    ctx = web_context(app)
    job = JobStore(ctx.redis).create(Job.new("a.mp4", "x.mp4"))
    out = job_dir(ctx.settings, job.id)
    out.mkdir(parents=True)
    (out / "720p.mp4").write_bytes(CONTENT)
    (out / ".720p.mp4.tmp").write_bytes(b"partial")
    (out / "hls").mkdir()
    (out / "hls" / "index.m3u8").write_text("#EXTM3U\n")
    secret = ctx.settings.data_dir / "secret.txt"
    secret.write_text("nope")
    return job


def test_full_download(client: FlaskClient, job_with_outputs: Job) -> None:
    response = client.get(f"/api/jobs/{job_with_outputs.id}/outputs/720p.mp4")
    assert response.status_code == 200
    assert response.data == CONTENT
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.mimetype == "video/mp4"
    nested = client.get(f"/api/jobs/{job_with_outputs.id}/outputs/hls/index.m3u8")
    assert nested.data == b"#EXTM3U\n"


def test_attachment_on_request(client: FlaskClient, job_with_outputs: Job) -> None:
    response = client.get(f"/api/jobs/{job_with_outputs.id}/outputs/720p.mp4?download=1")
    assert response.headers["Content-Disposition"].startswith("attachment")


def test_range_request(client: FlaskClient, job_with_outputs: Job) -> None:
    url = f"/api/jobs/{job_with_outputs.id}/outputs/720p.mp4"
    response = client.get(url, headers={"Range": "bytes=100-199"})
    assert response.status_code == 206
    assert response.data == CONTENT[100:200]
    assert response.headers["Content-Range"] == f"bytes 100-199/{len(CONTENT)}"
    tail = client.get(url, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.data == CONTENT[-10:]
    beyond = client.get(url, headers={"Range": f"bytes={len(CONTENT) + 5}-"})
    assert beyond.status_code == 416


@pytest.mark.parametrize("name", [
    ".720p.mp4.tmp", "../../secret.txt", "..%2F..%2Fsecret.txt", "hls/../../../secret.txt",
    "missing.mp4", "%2Fetc%2Fpasswd", "hls/.hidden", "hls//index.m3u8",
])
def test_refuses_temp_files_and_traversal(
    client: FlaskClient, job_with_outputs: Job, name: str
) -> None:
    response = client.get(f"/api/jobs/{job_with_outputs.id}/outputs/{name}", follow_redirects=True)
    assert response.status_code == 404
    assert set(response.get_json()) == {"error"}
    assert b"nope" not in response.data and b"partial" not in response.data


def test_unknown_job_and_other_jobs_dir(
    app: Flask, client: FlaskClient, job_with_outputs: Job, tmp_path: Path
) -> None:
    assert client.get("/api/jobs/ffffffffffffffff/outputs/720p.mp4").status_code == 404
    other = JobStore(web_context(app).redis).create(Job.new("b.mp4", "y.mp4"))
    response = client.get(f"/api/jobs/{other.id}/outputs/../{job_with_outputs.id}/720p.mp4")
    assert response.status_code == 404
