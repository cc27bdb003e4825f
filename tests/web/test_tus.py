"""The tus 1.0 endpoint through the Flask test client: creation, offsets, checksums,
termination, expiry and the job the last byte makes (Redis is fakeredis here; the real
web tier and a killed client are in tests/integration/test_resumable_uploads.py)."""

from __future__ import annotations

import base64
import hashlib
import os
import time

import pytest
from flask import Flask
from flask.testing import FlaskClient

from common import tasknames
from common.resumable import ResumableStore
from tests.support.files import uploads_dir
from tests.support.workers import RecordingProducer
from web.context import web_context

TUS = {"Tus-Resumable": "1.0.0"}
BODY = os.urandom(300_000)


def _meta(**values: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in values.items())


def _create(client: FlaskClient, length: int = len(BODY), **meta: str) -> str:
    answer = client.post("/api/uploads", headers={
        **TUS, "Upload-Length": str(length), "Upload-Metadata": _meta(filename="trip.mov", **meta)})
    assert answer.status_code == 201, answer.get_json()
    assert answer.headers["Upload-Expires"].endswith("GMT")
    return answer.headers["Location"].rsplit("/", 1)[1]


def _patch(client: FlaskClient, upload_id: str, offset: int, body: bytes,
           **headers: str) -> tuple[int, dict[str, str]]:
    answer = client.patch(f"/api/uploads/{upload_id}", data=body, headers={
        **TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream",
        **headers})
    return answer.status_code, dict(answer.headers)


def _offset(client: FlaskClient, upload_id: str) -> int:
    answer = client.head(f"/api/uploads/{upload_id}", headers=TUS)
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    return int(answer.headers["Upload-Offset"])


def test_discovery_names_the_version_extensions_and_limit(client: FlaskClient) -> None:
    answer = client.options("/api/uploads")
    assert answer.status_code == 204
    assert answer.headers["Tus-Version"] == "1.0.0"
    assert set(answer.headers["Tus-Extension"].split(",")) == {
        "creation", "termination", "checksum", "expiration"}
    assert answer.headers["Tus-Max-Size"] == str(1024 * 1024)


def test_an_upload_in_pieces_becomes_a_job_with_the_original_bytes(
    app: Flask, client: FlaskClient, producer: RecordingProducer
) -> None:
    upload_id = _create(client, profiles="480p", hls="false")
    assert _offset(client, upload_id) == 0
    status, headers = _patch(client, upload_id, 0, BODY[:100_000])
    assert (status, headers["Upload-Offset"]) == (204, "100000")
    assert "FFcluster-Job-Id" not in headers and producer.sent == []
    assert _offset(client, upload_id) == 100_000
    status, headers = _patch(client, upload_id, 100_000, BODY[100_000:])
    assert status == 204 and headers["FFcluster-Job-Id"] == upload_id
    job = client.get(f"/api/jobs/{upload_id}").get_json()
    assert (job["source_name"], job["requested_profiles"], job["hls"]) == (
        "trip.mov", ["480p"], False)
    stored = uploads_dir(web_context(app).settings) / job["source_file"]
    assert hashlib.sha256(stored.read_bytes()).digest() == hashlib.sha256(BODY).digest()
    assert producer.names == [tasknames.PROBE_JOB]
    assert not list((uploads_dir(web_context(app).settings) / ".tus").iterdir())
    assert _offset(client, upload_id) == len(BODY)  # a late HEAD learns it is complete


def test_a_wrong_offset_is_409_and_changes_nothing(client: FlaskClient) -> None:
    upload_id = _create(client)
    _patch(client, upload_id, 0, BODY[:1000])
    for offset in (0, 999, 5000):
        status, _ = _patch(client, upload_id, offset, BODY[offset:offset + 10])
        assert status == 409
    assert _offset(client, upload_id) == 1000


def test_a_checksum_mismatch_is_460_and_the_bytes_are_discarded(client: FlaskClient) -> None:
    upload_id = _create(client)
    good = base64.b64encode(hashlib.sha1(BODY[:5000]).digest()).decode()
    bad = base64.b64encode(hashlib.sha1(b"other").digest()).decode()
    assert _patch(client, upload_id, 0, BODY[:5000], **{"Upload-Checksum": f"sha1 {bad}"}
                  )[0] == 460
    assert _offset(client, upload_id) == 0
    assert _patch(client, upload_id, 0, BODY[:5000], **{"Upload-Checksum": f"sha1 {good}"}
                  )[0] == 204
    assert _offset(client, upload_id) == 5000
    assert _patch(client, upload_id, 5000, b"x", **{"Upload-Checksum": "crc32 AAAA"})[0] == 400


@pytest.mark.parametrize(("headers", "status", "fragment"), [
    ({"Upload-Length": str(2 * 1024 * 1024)}, 413, "larger than 1 MiB"),
    ({"Upload-Length": "12abc"}, 400, "Upload-Length header must be a whole number"),
    ({}, 400, "Upload-Length header must be a whole number"),
    ({"Upload-Length": "0"}, 400, "empty"),
    ({"Upload-Length": "10", "Upload-Metadata": "filename !!!"}, 400, "'key base64' pairs"),
    ({"Upload-Length": "10", "Upload-Metadata": "filename //4="}, 400, "not base64 of UTF-8"),
    ({"Upload-Length": "10", "Upload-Metadata": _meta(profiles="9000p")}, 400, "9000p"),
    ({"Upload-Length": "10", "Tus-Resumable": "0.2.2"}, 412, "tus 1.0.0 only"),
])
def test_bad_creations_are_refused_before_a_byte(
    app: Flask, client: FlaskClient, headers: dict[str, str], status: int, fragment: str
) -> None:
    answer = client.post("/api/uploads", headers={**TUS, **headers})
    assert answer.status_code == status and fragment in answer.get_json()["error"]
    assert ResumableStore(web_context(app).redis).expired_ids(time.time() + 10**9) == []


def test_metadata_keys_the_cluster_does_not_use_may_hold_any_bytes(client: FlaskClient) -> None:
    answer = client.post("/api/uploads", headers={
        **TUS, "Upload-Length": "10", "Upload-Metadata": "filename dHJpcC5tb3Y=,x-camera //4="})
    assert answer.status_code == 201


def test_a_body_past_the_length_and_the_wrong_type_are_refused(client: FlaskClient) -> None:
    upload_id = _create(client, length=10)
    assert _patch(client, upload_id, 0, b"x" * 11)[0] == 400
    assert _offset(client, upload_id) == 0
    answer = client.patch(f"/api/uploads/{upload_id}", data=b"x", headers={
        **TUS, "Upload-Offset": "0", "Content-Type": "application/octet-stream"})
    assert answer.status_code == 415


def test_termination_removes_the_bytes_and_the_upload(app: Flask, client: FlaskClient) -> None:
    upload_id = _create(client)
    _patch(client, upload_id, 0, BODY[:1000])
    assert client.delete(f"/api/uploads/{upload_id}", headers=TUS).status_code == 204
    assert client.head(f"/api/uploads/{upload_id}", headers=TUS).status_code == 404
    assert not (uploads_dir(web_context(app).settings) / ".tus" / f"{upload_id}.part").exists()


def test_an_expired_upload_is_gone_with_its_bytes(app: Flask, client: FlaskClient) -> None:
    upload_id = _create(client)
    _patch(client, upload_id, 0, BODY[:1000])
    store = ResumableStore(web_context(app).redis)
    upload = store.get(upload_id)
    assert upload is not None
    upload.expires_at = time.time() - 1
    store.create(upload)
    assert _patch(client, upload_id, 1000, BODY[1000:2000])[0] == 404
    assert not (uploads_dir(web_context(app).settings) / ".tus" / f"{upload_id}.part").exists()
