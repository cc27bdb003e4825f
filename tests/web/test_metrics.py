"""``/metrics`` is valid Prometheus text built from Redis."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from common import metrics, registry, tasknames
from common.jobs import Job
from common.states import JobState
from common.store import JobStore


def _samples(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    found = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_reflect_redis(app: Flask, client: FlaskClient) -> None:
    client_redis = app.extensions["ffcluster.redis"]
    store = JobStore(client_redis)
    for state in (JobState.DONE, JobState.DONE, JobState.FAILED, JobState.QUEUED):
        store.create(Job.new("a.mp4", "a.mp4", state=state))
    metrics.add(client_redis, metrics.RENDITIONS_ENCODED, "libx264", 3)
    metrics.add(client_redis, metrics.FALLBACKS, "h264_nvenc", 2)
    metrics.add(client_redis, metrics.ENCODE_SECONDS, "libx264", 12.5)
    client_redis.rpush(tasknames.QUEUE_CPU, "t1", "t2")
    client_redis.rpush(tasknames.QUEUE_GPU, "t3")
    registry.announce(client_redis, registry.WorkerInfo(
        hostname="gpu@x", gpu=True, encoders=["h264_nvenc"], ffmpeg_version="7",
        concurrency=1, queues=["gpu", "cpu"], pid=1), ttl_s=30)

    samples = _samples(client)
    assert samples[("ffcluster_jobs", (("state", "done"),))] == 2
    assert samples[("ffcluster_jobs", (("state", "failed"),))] == 1
    assert samples[("ffcluster_jobs", (("state", "queued"),))] == 1
    assert samples[("ffcluster_jobs", (("state", "encoding"),))] == 0
    assert samples[("ffcluster_renditions_encoded_total", (("codec", "libx264"),))] == 3
    assert samples[("ffcluster_encoder_fallbacks_total", (("codec", "h264_nvenc"),))] == 2
    assert samples[("ffcluster_encode_seconds_total", (("codec", "libx264"),))] == 12.5
    assert samples[("ffcluster_queue_depth", (("queue", "cpu"),))] == 2
    assert samples[("ffcluster_queue_depth", (("queue", "gpu"),))] == 1
    assert samples[("ffcluster_workers_online", (("tag", "gpu"),))] == 1
    assert samples[("ffcluster_workers_online", (("tag", "cpu"),))] == 0


def test_metrics_on_empty_redis(client: FlaskClient) -> None:
    samples = _samples(client)
    assert samples[("ffcluster_jobs", (("state", "done"),))] == 0
    assert samples[("ffcluster_queue_depth", (("queue", "cpu"),))] == 0
