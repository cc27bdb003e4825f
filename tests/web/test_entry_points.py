"""The WSGI entry builds the app from the environment and starts the workers broadcaster."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.redis_server import RedisServer
from web.broadcast import WorkersBroadcaster


def test_wsgi_application_from_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_server: RedisServer
) -> None:
    monkeypatch.setenv("FFCLUSTER_REDIS_URL", redis_server.url)
    monkeypatch.setenv("FFCLUSTER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FFCLUSTER_API_TOKEN", "wsgi-token")
    from web.wsgi import application

    app = application()
    broadcaster = app.extensions["ffcluster.broadcaster"]
    try:
        assert isinstance(broadcaster, WorkersBroadcaster)
        client = app.test_client()
        health = client.get("/api/health")
        assert health.status_code == 200 and health.get_json()["redis"] is True
        assert health.headers["Referrer-Policy"] == "same-origin"
        assert client.get("/api/jobs").status_code == 401
        jobs = client.get("/api/jobs", headers={"Authorization": "Bearer wsgi-token"})
        assert jobs.get_json()["total"] == 0
        assert (tmp_path / "uploads").is_dir()
    finally:
        broadcaster.running = False
