"""Worker advertisements, queue routing and metrics counters (fakeredis)."""

from __future__ import annotations

import fakeredis
import pytest

from common import keys, metrics, registry
from common.registry import WorkerInfo
from common.tasknames import QUEUE_CPU, QUEUE_GPU
from tests.support.ports import wait_for


@pytest.fixture
def client() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis()


def info(hostname: str, queues: list[str], gpu: bool = False) -> WorkerInfo:
    return WorkerInfo(hostname=hostname, gpu=gpu, encoders=["libx264"], ffmpeg_version="5.1",
                      concurrency=2, queues=queues, pid=123)


def test_announce_lists_online_workers_with_a_ttl(client: fakeredis.FakeRedis) -> None:
    client.sadd(keys.worker_tasks("b@host"), "job1/720p")
    registry.announce(client, info("b@host", [QUEUE_CPU]), ttl_s=30)
    registry.announce(client, info("a@host", [QUEUE_CPU, QUEUE_GPU], gpu=True), ttl_s=30)
    assert 0 < client.pttl(keys.worker("a@host")) <= 30_000
    workers = registry.list_workers(client)
    assert [(w.hostname, w.online) for w in workers] == [("a@host", True), ("b@host", True)]
    assert workers[1].tasks == ["job1/720p"]
    assert workers[0].gpu is True and workers[0].queues == ["cpu", "gpu"]
    assert registry.get_worker(client, "a@host") == workers[0]
    assert registry.get_worker(client, "nobody") is None


def test_a_worker_goes_offline_when_its_advertisement_expires(
        client: fakeredis.FakeRedis) -> None:
    registry.announce(client, info("w@host", [QUEUE_CPU]), ttl_s=0.2)
    assert registry.list_workers(client)[0].online
    wait_for(lambda: not registry.list_workers(client)[0].online, timeout=5,
             message="advertisement expiry")
    [offline] = registry.list_workers(client)
    assert (offline.hostname, offline.queues, offline.last_seen > 0) == ("w@host", [], True)
    assert registry.list_workers(client, include_offline=False) == []


def test_retired_workers_are_listed_offline_after_online_ones(
        client: fakeredis.FakeRedis) -> None:
    for name in ("c@host", "a@host", "b@host"):
        registry.announce(client, info(name, [QUEUE_CPU]), ttl_s=30)
    client.sadd(keys.worker_tasks("a@host"), "j/p")
    registry.retire(client, "a@host")
    assert not client.exists(keys.worker_tasks("a@host"))
    assert [(w.hostname, w.online) for w in registry.list_workers(client)] == [
        ("b@host", True), ("c@host", True), ("a@host", False)]


def test_long_gone_workers_are_forgotten(client: fakeredis.FakeRedis) -> None:
    client.zadd(keys.WORKER_INDEX, {"old@host": 1.0})
    assert registry.list_workers(client) == []


def test_choose_queue_routes_to_gpu_only_while_a_gpu_consumer_is_online(
        client: fakeredis.FakeRedis) -> None:
    assert registry.choose_queue(client) == QUEUE_CPU  # nobody online
    registry.announce(client, info("cpu@host", [QUEUE_CPU]), ttl_s=30)
    assert registry.choose_queue(client) == QUEUE_CPU
    # tagged gpu=True but not consuming the gpu queue: routing there would strand tasks
    registry.announce(client, info("odd@host", [QUEUE_CPU], gpu=True), ttl_s=30)
    assert registry.choose_queue(client) == QUEUE_CPU
    registry.announce(client, info("gpu@host", [QUEUE_CPU, QUEUE_GPU], gpu=True), ttl_s=30)
    assert registry.choose_queue(client) == QUEUE_GPU
    registry.retire(client, "gpu@host")
    assert registry.choose_queue(client) == QUEUE_CPU


def test_each_codec_goes_to_gpu_only_where_a_gpu_worker_has_hardware_for_it() -> None:
    nvidia = WorkerInfo(hostname="gpu@host", gpu=True, encoders=["h264_nvenc", "libx264"],
                        ffmpeg_version="5.1", concurrency=2, queues=[QUEUE_CPU, QUEUE_GPU],
                        pid=1, hardware=["h264_nvenc", "hevc_nvenc"])
    cpu = info("cpu@host", [QUEUE_CPU])
    assert [registry.queue_for([nvidia, cpu], c) for c in ("h264", "hevc", "av1")] == [
        QUEUE_GPU, QUEUE_GPU, QUEUE_CPU]  # no AV1 hardware: the CPU workers take it
    assert registry.queue_for([nvidia, cpu]) == QUEUE_GPU
    assert registry.queue_for([cpu], "h264") == QUEUE_CPU
    older = info("old@host", [QUEUE_CPU, QUEUE_GPU], gpu=True)  # a record from before
    assert registry.queue_for([older], "av1") == QUEUE_GPU      # `hardware`: as it was


def test_metrics_add_and_read_all(client: fakeredis.FakeRedis) -> None:
    assert metrics.read_all(client) == {}
    metrics.add(client, metrics.RENDITIONS_ENCODED, "libx264")
    metrics.add(client, metrics.RENDITIONS_ENCODED, "libx264")
    metrics.add(client, metrics.RENDITIONS_ENCODED, "copy")
    metrics.add(client, metrics.ENCODE_SECONDS, "libx264", 1.25)
    metrics.add(client, metrics.ENCODE_SECONDS, "libx264", 0.5)
    metrics.add(client, metrics.FALLBACKS, "h264_nvenc|libx264")
    assert metrics.read_all(client) == {
        "renditions_encoded": {"libx264": 2.0, "copy": 1.0},
        "encode_seconds": {"libx264": 1.75},
        "fallbacks": {"h264_nvenc|libx264": 1.0},
    }
