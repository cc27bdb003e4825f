"""Event envelopes and the write-only emitter that publishes them through Redis."""

from __future__ import annotations

import json
import time

from common import keys
from common.events import (
    DASHBOARD_ROOM,
    EVENT_VERSION,
    Envelope,
    EventEmitter,
    EventType,
    job_event,
    job_room,
    progress_event,
    workers_event,
)
from common.jobs import Job, Rendition
from tests.support.ports import free_port, wait_for
from tests.support.redis_server import RedisServer


def test_payload_is_versioned_and_flattened() -> None:
    envelope = Envelope(EventType.PROGRESS, {"profile": "720p", "percent": 12.5},
                        job_id="abc", ts=123.0)
    assert envelope.payload() == {"v": EVENT_VERSION, "type": "progress", "ts": 123.0,
                                  "job_id": "abc", "profile": "720p", "percent": 12.5}
    assert EVENT_VERSION == 2


def test_rooms() -> None:
    assert Envelope(EventType.JOB, {}, job_id="abc").rooms() == [DASHBOARD_ROOM, "job:abc"]
    assert Envelope(EventType.PROGRESS, {}, job_id="abc").rooms() == ["job:abc"]
    assert job_room("abc") == "job:abc"
    workers = workers_event([{"hostname": "w1"}])
    assert workers.rooms() == ["dashboard"]
    assert "job_id" not in workers.payload()
    assert workers.payload()["workers"] == [{"hostname": "w1"}]


def test_timestamp_defaults_to_now() -> None:
    before = time.time()
    envelope = Envelope(EventType.WORKERS, {})
    assert before <= envelope.ts <= time.time()


def test_job_event_carries_the_full_job_json() -> None:
    job = Job.new("a.mov", "x.mov")
    job.renditions = [Rendition("720p", percent=50.0)]
    payload = job_event(job).payload()
    assert (payload["type"], payload["job_id"]) == ("job", job.id)
    assert payload["job"] == job.to_dict()
    assert json.loads(json.dumps(payload)) == payload


def test_a_progress_event_carries_every_rendition_of_its_ffmpeg() -> None:
    payload = progress_event("abc", {"720p": {"percent": 10.0, "bitrate_kbps": 2000.0},
                                     "480p": {"percent": 10.0, "bitrate_kbps": 900.0}}).payload()
    assert (payload["type"], payload["job_id"]) == ("progress", "abc")
    assert payload["renditions"] == [
        {"profile": "720p", "percent": 10.0, "bitrate_kbps": 2000.0},
        {"profile": "480p", "percent": 10.0, "bitrate_kbps": 900.0}]


def test_emitter_publishes_on_the_socketio_channel(redis_server: RedisServer) -> None:
    pubsub = redis_server.client().pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(keys.SOCKETIO_CHANNEL)
    wait_for(lambda: redis_server.client().pubsub_numsub(keys.SOCKETIO_CHANNEL)[0][1] == 1,
             timeout=5, message="subscription")
    envelope = progress_event("abc", {"720p": {"percent": 33.0}})
    EventEmitter(redis_server.url).emit(envelope)
    message = wait_for(lambda: pubsub.get_message(timeout=0.2), timeout=5,
                       message="published event")
    pubsub.close()
    body = json.loads(message["data"])
    assert body["method"] == "emit"
    assert body["event"] == "progress"
    assert body["namespace"] == "/"
    assert body["room"] == ["job:abc"]  # progress: the job's subscribers, not every dashboard
    assert body["data"][0] == envelope.payload()


def test_emitter_never_raises_when_redis_is_unreachable() -> None:
    emitter = EventEmitter(f"redis://127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    emitter.emit(progress_event("abc", {"720p": {"percent": 1.0}}))  # no exception
    emitter.emit(workers_event([]))
    assert time.monotonic() - started < 10
