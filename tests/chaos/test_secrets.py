"""With an API token and a webhook secret set: nobody without the token gets in, and
neither secret shows up in logs, job records, Redis or /metrics."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
import socketio

from common.settings import Settings
from tests.conftest import cluster_settings
from tests.support.live import RecordingClient
from tests.support.media import make_clip
from tests.support.ports import wait_for
from tests.support.redis_server import RedisServer
from tests.support.web import WebProcess, start_web_with
from tests.support.workers import WorkerProcess, start_worker

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(180)]

TOKEN = "tok-" + secrets.token_hex(16)
SECRET = "whs-" + secrets.token_hex(16)
SIGNATURE_HEADER = "X-FFcluster-Signature"
TIMESTAMP_HEADER = "X-FFcluster-Timestamp"


@dataclass
class Hooks:
    """A local webhook receiver that keeps every delivery; it answers 503 to the first
    delivery of each job's ``done``, so the worker must retry it."""

    server: ThreadingHTTPServer
    deliveries: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    refused: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def jobs(self) -> list[dict[str, Any]]:
        return [json.loads(body)["job"] for _, body in list(self.deliveries)]


@pytest.fixture(scope="module")
def hooks() -> Iterator[Hooks]:
    received: list[tuple[dict[str, str], bytes]] = []
    refused: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            job = json.loads(body)["job"]
            first_done = job["state"] == "done" and not any(
                json.loads(b)["job"]["id"] == job["id"] for _, b in refused)
            (refused if first_done else received).append((dict(self.headers.items()), body))
            self.send_response(503 if first_done else 204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Hooks(server, received, refused)
    server.shutdown()
    server.server_close()


@dataclass
class Secured:
    settings: Settings
    web: WebProcess
    worker: WorkerProcess
    redis: redis.Redis

    @property
    def api(self) -> str:
        return f"{self.web.url}/api"


@pytest.fixture(scope="module")
def secured(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory,
            ladder_file: Path, hooks: Hooks) -> Iterator[Secured]:
    redis_server.client().flushall()
    root = tmp_path_factory.mktemp("secrets")
    settings = cluster_settings(redis_server.url, root / "data", ladder_file, api_token=TOKEN,
                                webhook_secret=SECRET, webhook_url=hooks.url)
    worker = start_worker(settings, root / "logs", "secure")
    web = start_web_with(settings, "threading")
    yield Secured(settings, web, worker, redis_server.client())
    web.stop()
    worker.stop()


AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def finished(secured: Secured, media_dir: Path) -> dict[str, Any]:
    """A job run to done through the secured API, its output downloaded both ways."""
    source = make_clip(media_dir / "secrets.mp4", seconds=1.0, size="160x120")
    with source.open("rb") as handle:
        created = requests.post(f"{secured.api}/jobs", files={"file": ("s.mp4", handle)},
                                data={"profiles": "144p"}, headers=AUTH, timeout=30)
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]
    client = RecordingClient(secured.web.url, token=TOKEN)
    try:
        assert client.subscribe(job_id) == {"ok": True}
        job = client.wait_for("job", lambda p: p["job_id"] == job_id
                              and p["job"]["state"] in ("done", "failed"), timeout=60)["job"]
    finally:
        client.close()
    assert job["state"] == "done", job
    output = f"{secured.api}/jobs/{job_id}/outputs/{job['renditions'][0]['output']}"
    assert requests.get(output, headers=AUTH, timeout=10).content[4:8] == b"ftyp"
    assert requests.get(output, params={"token": TOKEN}, timeout=10).content[4:8] == b"ftyp"
    return {"job": job, "output": output}


def redis_dump(client: redis.Redis) -> dict[str, bytes]:
    """Every key's value as bytes, whatever its type."""
    dump: dict[str, bytes] = {}
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        if kind == "string":
            value = [client.get(key) or b""]
        elif kind == "hash":
            value = [b for pair in client.hgetall(key).items() for b in pair]
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "set":
            value = list(client.smembers(key))
        elif kind == "zset":
            value = [m for m, _ in client.zrange(key, 0, -1, withscores=True)]
        elif kind == "stream":
            value = [json.dumps([(i.decode(), {k.decode(): v.decode() for k, v in f.items()})
                                 for i, f in client.xrange(key)]).encode()]
        else:
            value = [kind.encode()]
        dump[key.decode()] = key + b"\n" + b"\n".join(value)
    return dump


def test_secrets_appear_in_no_log_record_key_or_metric(
    secured: Secured, finished: dict[str, Any], hooks: Hooks
) -> None:
    job = finished["job"]
    done = wait_for(lambda: [(h, b) for h, b in list(hooks.deliveries)
                             if json.loads(b)["job"]["id"] == job["id"]
                             and json.loads(b)["job"]["state"] == "done"],
                    timeout=30, message="the done webhook")
    [(refused_headers, _)] = [(h, b) for h, b in hooks.refused
                              if json.loads(b)["job"]["id"] == job["id"]]
    for headers, body in done:  # the worker retried the refused delivery, signed anew
        assert int(headers[TIMESTAMP_HEADER]) >= int(refused_headers[TIMESTAMP_HEADER])
        signed = f"{headers[TIMESTAMP_HEADER]}.".encode() + body
        expected = "sha256=" + hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers[SIGNATURE_HEADER], expected)
        assert SECRET.encode() not in body and TOKEN.encode() not in body

    record = requests.get(f"{secured.api}/jobs/{job['id']}", headers=AUTH, timeout=10)
    assert requests.get(f"{secured.web.url}/metrics", timeout=10).status_code == 401
    metrics = requests.get(f"{secured.web.url}/metrics", headers=AUTH, timeout=10)
    assert record.status_code == 200 and metrics.status_code == 200
    assert "ffcluster_jobs" in metrics.text
    dump = redis_dump(secured.redis)
    assert any(job["id"] in key for key in dump), sorted(dump)
    places = {
        "web log": secured.web.log(),
        "worker log": secured.worker.log(),
        "job JSON": record.text,
        "metrics": metrics.text,
        **{f"redis key {key}": value.decode("utf-8", "replace") for key, value in dump.items()},
    }
    assert secured.web.log() and secured.worker.log()
    for secret_name, value in (("API token", TOKEN), ("webhook secret", SECRET)):
        leaks = sorted(place for place, text in places.items() if value in text)
        assert not leaks, f"the {secret_name} leaks into {leaks}"


def test_without_the_token_nothing_is_served(secured: Secured, finished: dict[str, Any]) -> None:
    job = finished["job"]
    output = finished["output"]
    attempts = {
        "job list": requests.get(f"{secured.api}/jobs", timeout=10),
        "workers": requests.get(f"{secured.api}/workers", timeout=10),
        "job": requests.get(f"{secured.api}/jobs/{job['id']}", timeout=10),
        "download": requests.get(output, timeout=10),
        "download, wrong query token": requests.get(output, params={"token": "x"}, timeout=10),
        "download, wrong bearer": requests.get(
            output, headers={"Authorization": "Bearer nope"}, timeout=10),
        "job list, query token": requests.get(
            f"{secured.api}/jobs", params={"token": TOKEN}, timeout=10),
        "upload": requests.post(f"{secured.api}/jobs", files={"file": ("a.mp4", b"x" * 64)},
                                timeout=10),
        "cancel": requests.delete(f"{secured.api}/jobs/{job['id']}", timeout=10),
    }
    for name, response in attempts.items():
        assert response.status_code == 401, (name, response.status_code)
        assert set(response.json()) == {"error"}, name
        assert job["id"] not in response.text and b"ftyp" not in response.content, name
        assert secured.worker.settings.worker_name not in response.text, name
    listed = requests.get(f"{secured.api}/jobs", headers=AUTH, timeout=10).json()
    assert listed["total"] >= 1 and listed["jobs"][0]["state"] == "done"

    for auth in (None, {"token": "wrong"}):
        sio = socketio.Client(reconnection=False)
        events: list[str] = []
        sio.on("*", lambda event, *args, bucket=events: bucket.append(event))
        with pytest.raises(socketio.exceptions.ConnectionError):
            sio.connect(secured.web.url, auth=auth, transports=["websocket"], wait_timeout=10)
        assert not sio.connected and events == []
        sio.disconnect()
    allowed = RecordingClient(secured.web.url, token=TOKEN)
    try:
        allowed.wait_for("workers", lambda p: bool(p["workers"]))
    finally:
        allowed.close()
