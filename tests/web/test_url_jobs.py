"""Jobs from a URL through the API: the job recorded and its fetch enqueued, bad bodies
answered with a sentence and the right status (the network is never touched here)."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient

from common import tasknames
from tests.support.workers import RecordingProducer


def _post(client: FlaskClient, body: object) -> tuple[int, dict[str, object]]:
    response = client.post("/api/jobs", data=json.dumps(body), content_type="application/json")
    return response.status_code, response.get_json()


def test_a_url_job_is_recorded_and_its_fetch_enqueued(
    client: FlaskClient, producer: RecordingProducer
) -> None:
    status, job = _post(client, {"source_url": "https://cdn.example.com/films/My%20Trip.mov?s=1",
                                 "profiles": ["720p", "480p"], "hls": False, "chunk_seconds": 0})
    assert status == 202, job
    assert (job["state"], job["source_name"], job["source_url"]) == (
        "queued", "My Trip.mov", "https://cdn.example.com/films/My%20Trip.mov?s=1")
    assert job["source_file"] == f"{job['id']}.mov"
    assert (job["requested_profiles"], job["hls"], job["chunk_seconds"]) == (
        ["720p", "480p"], False, 0)
    assert producer.sent == [(tasknames.INGEST_SOURCE, [job["id"]],
                              tasknames.QUEUE_CPU)]
    assert client.get(f"/api/jobs/{job['id']}").get_json()["source_url"] == job["source_url"]


@pytest.mark.parametrize(("body", "sentence"), [
    ({"source_url": "ftp://example.com/a.mp4"}, "must be an https:// or http:// URL"),
    ({"source_url": "file:///etc/passwd"}, "must be an https:// or http:// URL"),
    ({"source_url": "s3://bucket/a.mp4"}, "need the cluster's bucket credentials"),
    ({"source_url": "https:///a.mp4"}, "with a host name or IPv4 address"),
    ({"source_url": "https://user:pw@example.com/a.mp4"}, "without user:password@"),
    ({"source_url": "https://example.com/a b.mp4"}, "in visible ASCII"),
    ({"source_url": "https://example.com/caf\u00e9.mp4"}, "percent-encode the rest"),
    ({"source_url": " https://example.com/a.mp4"}, "must be an https:// or http:// URL"),
    ({"source_url": "https://example.com/" + "a" * 3000}, "longer than 2048 characters"),
    ({"source_url": "https://example.com/a.mp4", "quality": None}, "'quality' has a value"),
    ({"source_url": "https://example.com/a.mp4", "hls": "true"}, "'hls' has a value"),
    ({"source_url": "https://example.com/a.mp4", "chunk_seconds": True}, "'chunk_seconds'"),
    ({"source_url": 7}, "source_url must be a URL"),
    ({}, "source_url must be a URL"),
    ({"source_url": "https://example.com/a.mp4", "colour": "red"}, "Unknown field 'colour'"),
    ({"source_url": "https://example.com/a.mp4", "hls": [1]}, "'hls' has a value of the wrong"),
    ({"source_url": "https://example.com/a.mp4", "profiles": "9000p"}, "9000p"),
    ({"source_url": "https://example.com/a.mp4", "chunk_seconds": -1}, "between 0"),
    (["https://example.com/a.mp4"], "must be an object"),
])
def test_bad_url_jobs_get_a_400_sentence_and_nothing_is_enqueued(
    client: FlaskClient, producer: RecordingProducer, body: object, sentence: str
) -> None:
    status, answer = _post(client, body)
    assert status == 400 and sentence in str(answer["error"]), answer
    assert str(answer["error"]).endswith(".")
    assert producer.sent == []


def test_a_body_that_is_not_json_or_too_large_is_refused(
    client: FlaskClient, producer: RecordingProducer
) -> None:
    broken = client.post("/api/jobs", data=b"{nope", content_type="application/json")
    assert broken.status_code == 400 and broken.get_json()["error"] == "The body is not valid JSON."
    huge = client.post("/api/jobs", data=b" " * (65 * 1024) + b"{}",
                       content_type="application/json")
    assert huge.status_code == 413 and "64 KiB" in huge.get_json()["error"]
    assert producer.sent == []
