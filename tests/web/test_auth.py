"""With FFCLUSTER_API_TOKEN set, nothing but /api/health answers without the token."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from common.jobs import Job
from common.store import JobStore
from tests.support.files import job_dir
from tests.web.helpers import upload
from web.context import web_context
from web.extensions import socketio

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def secured(make_app: object) -> Flask:
    return make_app(api_token=TOKEN)  # type: ignore[operator, no-any-return]


@pytest.fixture
def job(secured: Flask) -> Job:
    ctx = web_context(secured)
    job = JobStore(ctx.redis).create(Job.new("private-name.mp4", "x.mp4"))
    out = job_dir(ctx.settings, job.id)
    out.mkdir(parents=True)
    (out / "480p.mp4").write_bytes(b"video-bytes")
    return job


def _requests(job: Job) -> list[tuple[str, str]]:
    return [
        ("GET", "/api/jobs"), ("GET", f"/api/jobs/{job.id}"), ("DELETE", f"/api/jobs/{job.id}"),
        ("POST", f"/api/jobs/{job.id}/retry"), ("GET", "/api/workers"), ("GET", "/api/profiles"),
        ("GET", "/api/openapi.json"), ("GET", f"/api/jobs/{job.id}/outputs/480p.mp4"),
        ("POST", "/api/jobs"),
    ]


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
    {"Authorization": f"Basic {TOKEN}"}, {"Authorization": "Bearer "},
])
def test_without_the_token_everything_is_401_and_leaks_nothing(
    secured: Flask, job: Job, headers: dict[str, str]
) -> None:
    client = secured.test_client()
    for method, path in _requests(job):
        response = client.open(path, method=method, headers=headers)
        assert response.status_code == 401, (method, path)
        assert response.get_json() == {"error": response.get_json()["error"]}
        assert "Bearer" in response.get_json()["error"]
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert job.id not in response.get_data(as_text=True)
        assert b"private-name" not in response.data and b"video-bytes" not in response.data
    assert JobStore(web_context(secured).redis).get(job.id).state == "queued"  # type: ignore[union-attr]


def test_with_the_token_everything_works(secured: Flask, job: Job) -> None:
    client = secured.test_client()
    assert client.get("/api/jobs", headers=AUTH).get_json()["total"] == 1
    assert upload(client, headers=AUTH).status_code == 202
    download = f"/api/jobs/{job.id}/outputs/480p.mp4"
    assert client.get(download, headers=AUTH).data == b"video-bytes"
    assert client.get(f"{download}?token={TOKEN}").data == b"video-bytes"
    assert client.get(f"/api/jobs?token={TOKEN}").status_code == 401


def test_health_and_dashboard_need_no_token(secured: Flask) -> None:
    client: FlaskClient = secured.test_client()
    assert client.get("/api/health").get_json()["status"] == "ok"
    page = client.get("/")
    assert page.status_code == 200
    assert TOKEN not in page.get_data(as_text=True)


def test_socketio_connect_needs_the_token(secured: Flask) -> None:
    refused = socketio.test_client(secured)
    assert not refused.is_connected()
    wrong = socketio.test_client(secured, auth={"token": "nope"})
    assert not wrong.is_connected()
    accepted = socketio.test_client(secured, auth={"token": TOKEN})
    assert accepted.is_connected()
    assert [m["name"] for m in accepted.get_received()] == ["workers"]
    accepted.disconnect()
