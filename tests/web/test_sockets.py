"""Socket.IO handlers in process (Flask-SocketIO test client, no message queue)."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask
from flask_socketio import SocketIOTestClient

from common import registry
from common.events import EVENT_VERSION
from common.jobs import Job
from common.store import JobStore
from tests.web.helpers import upload
from web.broadcast import WorkersBroadcaster
from web.context import web_context
from web.extensions import socketio


def _events(client: SocketIOTestClient, name: str) -> list[dict[str, Any]]:
    return [m["args"][0] for m in client.get_received() if m["name"] == name]


def test_connect_sends_workers(app: Flask) -> None:
    registry.announce(web_context(app).redis, registry.WorkerInfo(
        hostname="cpu@a", gpu=False, encoders=["libx264"], ffmpeg_version="7", concurrency=1,
        queues=["cpu"], pid=1), ttl_s=30)
    sio = socketio.test_client(app)
    assert sio.is_connected()
    [payload] = _events(sio, "workers")
    assert payload["type"] == "workers" and payload["v"] == EVENT_VERSION
    assert [w["hostname"] for w in payload["workers"]] == ["cpu@a"]


def test_subscribe_resyncs_from_the_record(app: Flask) -> None:
    job = JobStore(web_context(app).redis).create(Job.new("a.mp4", "a.mp4"))
    sio = socketio.test_client(app)
    sio.get_received()
    assert sio.emit("subscribe", {"job_id": job.id}, callback=True) == {"ok": True}
    [payload] = _events(sio, "job")
    assert payload["job_id"] == job.id and payload["job"]["state"] == "queued"
    assert set(payload) >= {"v", "type", "ts", "job_id", "job"}
    missing = sio.emit("subscribe", {"job_id": "ffffffffffffffff"}, callback=True)
    assert missing["ok"] is False and "No job" in missing["error"]
    assert sio.emit("subscribe", {"nope": 1}, callback=True)["ok"] is False
    assert sio.emit("subscribe", "../../x", callback=True)["ok"] is False
    assert sio.emit("unsubscribe", {"job_id": job.id}, callback=True) == {"ok": True}


def test_ping_acknowledges_with_the_server_time(app: Flask) -> None:
    sio = socketio.test_client(app)
    before = time.time()
    ack = sio.emit("ping", callback=True)
    assert ack["ok"] is True and before <= ack["ts"] <= time.time()


def test_resync_sends_recent_jobs(app: Flask) -> None:
    store = JobStore(web_context(app).redis)
    ids = {store.create(Job.new(f"{i}.mp4", f"{i}.mp4")).id for i in range(3)}
    sio = socketio.test_client(app)
    sio.get_received()
    ack = sio.emit("resync", callback=True)
    assert ack == {"ok": True, "jobs": 3, "total": 3}
    assert {p["job_id"] for p in _events(sio, "job")} == ids


def test_web_state_changes_reach_the_dashboard_room(app: Flask) -> None:
    watcher = socketio.test_client(app)
    watcher.get_received()
    client = app.test_client()
    job = upload(client).get_json()
    client.delete(f"/api/jobs/{job['id']}")
    client.post(f"/api/jobs/{job['id']}/retry")
    states = [p["job"]["state"] for p in _events(watcher, "job") if p["job_id"] == job["id"]]
    assert states == ["queued", "canceled", "queued"]


def test_job_room_members_get_each_event_once(app: Flask) -> None:
    watcher = socketio.test_client(app)
    job = upload(app.test_client()).get_json()
    watcher.emit("subscribe", {"job_id": job["id"]})
    watcher.get_received()
    app.test_client().delete(f"/api/jobs/{job['id']}")
    assert [p["job"]["state"] for p in _events(watcher, "job")] == ["canceled"]


def test_broadcaster_reports_only_changes(app: Flask) -> None:
    client = web_context(app).redis
    broadcaster = WorkersBroadcaster(client, poll_s=0.01)
    assert broadcaster.poll_once() == []
    assert broadcaster.poll_once() is None
    info = registry.WorkerInfo(hostname="gpu@b", gpu=True, encoders=["h264_nvenc"],
                               ffmpeg_version="7", concurrency=1, queues=["gpu"], pid=2)
    registry.announce(client, info, ttl_s=30)
    changed = broadcaster.poll_once()
    assert changed is not None and [w["hostname"] for w in changed] == ["gpu@b"]
    registry.announce(client, info, ttl_s=30)  # only last_seen moves: no broadcast
    assert broadcaster.poll_once() is None
    registry.retire(client, "gpu@b")
    offline = broadcaster.poll_once()
    assert offline is not None and offline[0]["online"] is False
