"""Idempotency keys: the second submission of a key answers the first job and makes none,
whether it comes as a multipart upload, a JSON source URL or a tus upload."""

from __future__ import annotations

import base64
import json

from flask import Flask
from flask.testing import FlaskClient

from common import tasknames
from tests.support.files import uploads_dir
from tests.support.workers import RecordingProducer
from tests.web.helpers import upload
from web.context import web_context

TUS = {"Tus-Resumable": "1.0.0"}


def test_a_second_multipart_upload_with_the_key_answers_the_first_job(
    app: Flask, client: FlaskClient, producer: RecordingProducer
) -> None:
    first = upload(client, idempotency_key="w1-abc")
    second = upload(client, filename="renamed.mp4", idempotency_key="w1-abc")
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.get_json()["id"] == first.get_json()["id"]
    assert producer.names == [tasknames.PROBE_JOB]
    stored = sorted(p.name for p in uploads_dir(web_context(app).settings).iterdir()
                    if p.is_file())
    assert stored == [first.get_json()["source_file"]]  # the duplicate's bytes are gone
    found = client.get("/api/jobs?idempotency_key=w1-abc").get_json()
    assert [j["id"] for j in found["jobs"]] == [first.get_json()["id"]]
    assert client.get("/api/jobs?idempotency_key=w1-other").get_json()["jobs"] == []


def test_a_json_job_and_a_tus_upload_with_a_known_key_make_no_second_job(
    app: Flask, client: FlaskClient, producer: RecordingProducer
) -> None:
    body = {"source_url": "https://cdn.example.com/a.mp4", "idempotency_key": "k1"}
    first = client.post("/api/jobs", data=json.dumps(body), content_type="application/json")
    again = client.post("/api/jobs", data=json.dumps(body), content_type="application/json")
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.get_json()["id"] == first.get_json()["id"]
    meta = f"filename {base64.b64encode(b'a.mp4').decode()},idempotency_key " \
           f"{base64.b64encode(b'k1').decode()}"
    created = client.post("/api/uploads", headers={**TUS, "Upload-Length": "5",
                                                   "Upload-Metadata": meta})
    url = created.headers["Location"]
    done = client.patch(url, data=b"12345", headers={
        **TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})
    assert done.status_code == 204
    assert done.headers["FFcluster-Job-Id"] == first.get_json()["id"]
    assert producer.names == [tasknames.INGEST_SOURCE]
    assert not [p for p in uploads_dir(web_context(app).settings).iterdir() if p.is_file()]


def test_a_malformed_key_is_a_400(client: FlaskClient) -> None:
    answer = upload(client, idempotency_key="has spaces")
    assert answer.status_code == 400 and "idempotency_key" in answer.get_json()["error"]
    assert client.get("/api/jobs?idempotency_key=a/b").status_code == 400
