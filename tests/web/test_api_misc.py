"""Health, error pages as JSON, and the OpenAPI document against the real routes."""

from __future__ import annotations

import re
import time
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from common import registry
from common.settings import Settings
from tests.support.ports import free_port
from tests.support.workers import RecordingProducer
from web.app import create_app


def _worker(name: str, gpu: bool) -> registry.WorkerInfo:
    return registry.WorkerInfo(hostname=name, gpu=gpu, encoders=["libx264"],
                               ffmpeg_version="7.1", concurrency=2,
                               queues=["gpu", "cpu"] if gpu else ["cpu"], pid=1)


def test_health_reports_redis_and_online_workers(app: Flask, client: FlaskClient) -> None:
    redis_client = app.extensions["ffcluster.redis"]
    registry.announce(redis_client, _worker("cpu@a", False), ttl_s=30)
    registry.announce(redis_client, _worker("gpu@b", True), ttl_s=30)
    started = time.perf_counter()
    body = client.get("/api/health").get_json()
    assert time.perf_counter() - started < 0.5
    assert body["status"] == "ok" and body["redis"] is True
    assert body["workers_online"] == 2
    workers = client.get("/api/workers").get_json()["workers"]
    assert [w["hostname"] for w in workers] == ["cpu@a", "gpu@b"]
    assert [w["gpu"] for w in workers] == [False, True]


def test_health_when_redis_is_down_answers_fast(tmp_path: Path) -> None:
    dead_url = f"redis://127.0.0.1:{free_port()}/0"
    settings = Settings.from_env({}, data_dir=tmp_path, redis_url=dead_url)
    app = create_app(settings, producer=RecordingProducer(), message_queue=False)
    started = time.perf_counter()
    response = app.test_client().get("/api/health")
    assert time.perf_counter() - started < 2
    assert response.status_code == 503
    assert response.get_json()["redis"] is False
    assert response.get_json()["status"] == "degraded"


def test_liveness_needs_nothing_and_readiness_needs_redis_and_a_worker(
        app: Flask, client: FlaskClient, tmp_path: Path) -> None:
    assert client.get("/api/live").status_code == 200
    not_ready = client.get("/api/ready")
    assert not_ready.status_code == 503
    assert not_ready.get_json()["error"] == "No worker is online to encode jobs."
    registry.announce(app.extensions["ffcluster.redis"], _worker("cpu@a", False), ttl_s=30)
    ready = client.get("/api/ready")
    assert ready.status_code == 200 and ready.get_json()["workers_online"] == 1
    dead_url = f"redis://127.0.0.1:{free_port()}/0"
    down = create_app(Settings.from_env({}, data_dir=tmp_path, redis_url=dead_url),
                      producer=RecordingProducer(), message_queue=False).test_client()
    assert down.get("/api/live").status_code == 200  # a Redis outage is no reason to restart
    assert down.get("/api/ready").status_code == 503
    assert down.get("/api/ready").get_json()["error"] == "Redis does not answer."


def test_errors_are_json_sentences(app: Flask) -> None:
    @app.get("/api/boom")
    def boom() -> str:
        raise RuntimeError("internal detail")

    client = app.test_client()
    cases = {
        ("GET", "/api/nothing"): 404, ("PUT", "/api/jobs"): 405, ("GET", "/api/boom"): 500,
        ("PATCH", "/api/health"): 405, ("GET", "/no/such/page"): 404,
    }
    for (method, path), status in cases.items():
        response = client.open(path, method=method)
        assert response.status_code == status, path
        assert response.mimetype == "application/json"
        body = response.get_json()
        assert set(body) == {"error"} and body["error"].endswith(".")
        assert "internal detail" not in body["error"]
        assert "<html" not in response.get_data(as_text=True).lower()
    assert "GET" in client.open("/api/jobs", method="PUT").headers["Allow"]


def _flask_path_to_openapi(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def test_openapi_matches_url_map(app: Flask, client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            methods = set(rule.methods or ()) - {"HEAD", "OPTIONS"}
            routes.setdefault(_flask_path_to_openapi(rule.rule), set()).update(
                m.lower() for m in methods)
    documented = {
        path: {m for m in item if m in {"get", "post", "put", "delete", "patch"}}
        for path, item in document["paths"].items()
    }
    assert documented == routes
    for path, item in document["paths"].items():
        params = set(re.findall(r"{([a-z_]+)}", path))
        declared = {p["name"] for p in item.get("parameters", []) if p["in"] == "path"}
        assert params == declared, path


def test_openapi_states_this_clusters_profiles_and_every_401(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").get_json()
    post = document["paths"]["/api/jobs"]["post"]
    fields = post["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    pattern = re.compile(fields["profiles"]["pattern"])
    for accepted in ("", "720p", "1080p, 480p", " ,720p,,", "480p,720p,1080p"):
        assert pattern.fullmatch(accepted), accepted
    for refused in ("4k", "720p 480p", "720", "720p;480p", "1080p,2160p"):
        assert not pattern.fullmatch(refused), refused
    assert set(fields["hls"]["enum"]) >= {"", "true", "false", "1", "0"}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            guarded = operation.get("security") != []
            assert ("401" in operation["responses"]) == guarded, (method, path)


def test_empty_query_parameters_are_400(client: FlaskClient) -> None:
    for query in ("limit=", "offset=", "limit=abc", "limit=0", "offset=-1"):
        answer = client.get(f"/api/jobs?{query}")
        assert answer.status_code == 400, query
        assert "query parameter" in answer.get_json()["error"]


def test_dashboard_page_is_served_with_vendored_client(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    assert 'id="conn-badge"' in page and "socket.io.min.js" in page
    assert '"profiles": ["1080p", "720p", "480p"]' in page
    js = client.get("/static/vendor/socket.io.min.js")
    assert js.status_code == 200 and b"Socket.IO v4.8.4" in js.data
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/app.css").status_code == 200


def test_dashboard_links_flower_when_configured(make_app: object) -> None:
    app = make_app(flower_url="http://flower.local:5555")  # type: ignore[operator]
    page = app.test_client().get("/").get_data(as_text=True)
    assert '"flowerUrl": "http://flower.local:5555"' in page
    assert 'id="flower-link"' in page
