"""The API client: streamed multipart uploads, error sentences, metrics parsing."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, jsonify, request
from werkzeug.serving import BaseWSGIServer, make_server

from cli.client import ApiClient, ApiError, MultipartFile
from cli.errors import CliError
from cli.status import queue_depths
from tests.support.ports import free_port

received: dict[str, Any] = {}


def _app() -> Flask:
    app = Flask(__name__)

    @app.post("/api/jobs")
    def create() -> Any:
        if request.is_json:
            received.update(json=request.get_json(), auth=request.headers.get("Authorization"))
            return jsonify(id="j2", state="queued"), 202
        upload = request.files["file"]
        received.update(
            filename=upload.filename, data=upload.read(), form=dict(request.form),
            content_length=request.content_length, auth=request.headers.get("Authorization"),
            chunked=request.headers.get("Transfer-Encoding"),
        )
        return jsonify(id="j1", state="queued"), 202

    @app.get("/api/jobs/<job_id>")
    def missing(job_id: str) -> Any:
        return jsonify(error=f"No job {job_id}."), 404

    return app


@pytest.fixture(scope="module")
def server() -> Iterator[BaseWSGIServer]:
    srv = make_server("127.0.0.1", 0, _app(), threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    thread.join(timeout=5)


def test_a_url_source_is_sent_as_json_for_a_worker_to_fetch(server: BaseWSGIServer) -> None:
    client = ApiClient(f"http://127.0.0.1:{server.port}", "secret")
    job = client.submit_url("https://cdn.example.com/a.mov", {"profiles": "720p"})
    assert job == {"id": "j2", "state": "queued"}
    assert received["json"] == {"source_url": "https://cdn.example.com/a.mov",
                                "profiles": "720p"}
    assert received["auth"] == "Bearer secret"


def test_upload_streams_with_a_content_length(server: BaseWSGIServer, tmp_path: Path) -> None:
    payload = os.urandom(1_500_000)
    clip = tmp_path / 'my "clip".mp4'
    clip.write_bytes(payload)
    reads: list[int] = []
    client = ApiClient(f"http://127.0.0.1:{server.port}", "secret")
    job = client.submit(clip, {"profiles": "720p,480p", "mode": "passthrough"}, reads.append)
    assert job == {"id": "j1", "state": "queued"}
    assert received["data"] == payload
    assert received["filename"] == "my _clip_.mp4"
    assert received["form"] == {"profiles": "720p,480p", "mode": "passthrough"}
    assert received["auth"] == "Bearer secret"
    assert received["chunked"] is None
    assert received["content_length"] == sum(reads) > len(payload)
    assert len(reads) > 10, "the body must be read in pieces, not whole"


def test_multipart_length_matches_body(tmp_path: Path) -> None:
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"x" * 1000)
    with MultipartFile(clip, {"profiles": "480p"}) as body:
        data = b"".join(iter(lambda: body.read(7), b""))
        assert len(data) == len(body) == body.tell()
        assert data.endswith(f"\r\n--{body.boundary}--\r\n".encode())


def test_error_answer_becomes_its_sentence(server: BaseWSGIServer) -> None:
    client = ApiClient(f"http://127.0.0.1:{server.port}", None)
    with pytest.raises(ApiError) as exc:
        client.get_json("/api/jobs/nope")
    assert (exc.value.status, exc.value.code) == (404, 1)
    assert str(exc.value) == "GET /api/jobs/nope answered 404: No job nope."


def test_unreachable_web_tier() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(CliError) as exc:
        ApiClient(url, None).get_json("/api/workers")
    assert exc.value.code == 2
    assert str(exc.value).startswith(f"Cannot reach the web tier at {url}:")


def test_queue_depths_from_metrics_text() -> None:
    text = (
        "# HELP ffcluster_queue_depth Tasks waiting in each broker queue.\n"
        "# TYPE ffcluster_queue_depth gauge\n"
        'ffcluster_queue_depth{queue="cpu"} 4.0\n'
        'ffcluster_queue_depth{queue="gpu"} 1.0\n'
        'ffcluster_jobs{state="done"} 3.0\n'
    )
    assert queue_depths(text) == {"cpu": 4, "gpu": 1}
    assert queue_depths("") == {"cpu": 0, "gpu": 0}
