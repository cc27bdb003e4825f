"""Submit, list, get, cancel and retry through the Flask test client on fakeredis."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from common import tasknames
from common.states import JobState
from common.store import JobStore
from tests.support.files import uploads_dir
from tests.support.workers import RecordingProducer
from tests.web.helpers import CLIP_BYTES, upload
from web.context import web_context


def _uploads(app: Flask) -> list[Path]:
    return sorted(uploads_dir(web_context(app).settings).iterdir())


def test_submit_streams_file_records_job_and_enqueues_probe(
    app: Flask, client: FlaskClient, producer: RecordingProducer
) -> None:
    response = upload(client, filename="My Holiday.MP4", profiles="720p, 480p", mode="encode")
    assert response.status_code == 202
    job = response.get_json()
    assert job["state"] == "queued"
    assert job["source_name"] == "My Holiday.MP4"
    assert job["source_file"] == f"{job['id']}.mp4"
    assert job["requested_profiles"] == ["720p", "480p"]
    assert job["mode"] == "encode"
    assert job["size_bytes"] == len(CLIP_BYTES)
    stored = uploads_dir(web_context(app).settings) / job["source_file"]
    assert stored.read_bytes() == CLIP_BYTES
    assert [p.name for p in _uploads(app)] == [stored.name]
    assert producer.sent == [(tasknames.PROBE_JOB, [job["id"]], tasknames.QUEUE_CPU)]
    record = JobStore(web_context(app).redis).get(job["id"])
    assert record is not None and record.state == JobState.QUEUED


def test_submit_sanitizes_names(app: Flask, client: FlaskClient) -> None:
    job = upload(client, filename="../../etc/evil name.Mp4").get_json()
    assert job["source_name"] == "evil name.Mp4"
    assert job["source_file"] == f"{job['id']}.mp4"
    odd = upload(client, filename="clip.mp4;rm -rf").get_json()
    assert odd["source_file"] == odd["id"]
    assert all(p.parent == uploads_dir(web_context(app).settings) for p in _uploads(app))


def test_passthrough_mode_and_whole_ladder(client: FlaskClient) -> None:
    job = upload(client, mode="passthrough").get_json()
    assert job["mode"] == "passthrough"
    assert job["requested_profiles"] is None


def test_list_is_newest_first_and_paginated(client: FlaskClient) -> None:
    ids = [upload(client, filename=f"c{i}.mp4").get_json()["id"] for i in range(5)]
    page = client.get("/api/jobs?limit=2").get_json()
    assert page["total"] == 5
    assert [j["id"] for j in page["jobs"]] == ids[::-1][:2]
    second = client.get("/api/jobs?offset=2&limit=2").get_json()
    assert [j["id"] for j in second["jobs"]] == ids[::-1][2:4]
    assert client.get("/api/jobs").get_json()["limit"] == 50


def test_list_rejects_bad_pagination(client: FlaskClient) -> None:
    for query in ("limit=0", "limit=201", "limit=abc", "offset=-1"):
        response = client.get(f"/api/jobs?{query}")
        assert response.status_code == 400, query
        assert "must be" in response.get_json()["error"]


def test_get_and_unknown_job(client: FlaskClient) -> None:
    job = upload(client).get_json()
    assert client.get(f"/api/jobs/{job['id']}").get_json()["id"] == job["id"]
    for bad in ("0123456789abcdef", "no%20such", "x" * 80):
        response = client.get(f"/api/jobs/{bad}")
        assert response.status_code == 404
        assert response.get_json()["error"].startswith("No job has the id")


def test_cancel_then_retry(client: FlaskClient, producer: RecordingProducer) -> None:
    job = upload(client).get_json()
    early = client.post(f"/api/jobs/{job['id']}/retry")
    assert early.status_code == 409
    assert "only failed or canceled" in early.get_json()["error"]
    canceled = client.delete(f"/api/jobs/{job['id']}")
    assert canceled.status_code == 200
    assert canceled.get_json()["state"] == "canceled"
    again = client.delete(f"/api/jobs/{job['id']}")
    assert again.status_code == 409
    assert "already canceled" in again.get_json()["error"]
    retried = client.post(f"/api/jobs/{job['id']}/retry")
    assert retried.status_code == 202
    assert retried.get_json()["state"] == "queued"
    assert producer.names == [tasknames.PROBE_JOB, tasknames.PROBE_JOB]
    assert client.delete("/api/jobs/ffffffffffffffff").status_code == 404
    assert client.post("/api/jobs/ffffffffffffffff/retry").status_code == 404


def test_webhook_enqueued_on_each_change_when_configured(
    make_app: object, producer: RecordingProducer
) -> None:
    app = make_app(webhook_url="http://hooks.example/ffc")  # type: ignore[operator]
    client = app.test_client()
    job = upload(client).get_json()
    client.delete(f"/api/jobs/{job['id']}")
    client.post(f"/api/jobs/{job['id']}/retry")
    hooks = [args for name, args, _ in producer.sent if name == tasknames.SEND_WEBHOOK]
    assert [h[0]["state"] for h in hooks] == ["queued", "canceled", "queued"]
    assert all(h[0]["id"] == job["id"] for h in hooks)


def test_no_webhook_without_url(client: FlaskClient, producer: RecordingProducer) -> None:
    upload(client)
    assert tasknames.SEND_WEBHOOK not in producer.names


def test_broker_down_fails_job_with_503(
    app: Flask, client: FlaskClient, producer: RecordingProducer
) -> None:
    producer.fail = True
    response = upload(client)
    assert response.status_code == 503
    assert "unreachable" in response.get_json()["error"]
    jobs, _ = JobStore(web_context(app).redis).list()
    assert [j.state for j in jobs] == [JobState.FAILED]


def test_profiles_and_workers_routes(client: FlaskClient) -> None:
    names = [p["name"] for p in client.get("/api/profiles").get_json()["profiles"]]
    assert names == ["1080p", "720p", "480p"]
    assert client.get("/api/workers").get_json() == {"workers": []}
