"""Whether a Redis may evict what the cluster stores: read off a real redis-server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import fakeredis
import pytest
import redis

from common.redis_config import EvictionWatch, eviction_risk
from tests.support.redis_server import RedisServer, start_redis


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    started = start_redis(tmp_path / "redis")
    yield started
    started.stop()


def evicting(client: redis.Redis, policy: str = "allkeys-lru", limit: str = "64mb") -> None:
    client.config_set("maxmemory", limit)
    client.config_set("maxmemory-policy", policy)


def test_a_redis_without_a_memory_limit_or_with_noeviction_is_safe(server: RedisServer) -> None:
    client = server.client()
    assert eviction_risk(client) is None  # redis-server's defaults
    evicting(client, policy="noeviction")
    assert eviction_risk(client) is None  # full: writes are refused, nothing vanishes
    evicting(client, limit="0")
    assert eviction_risk(client) is None  # an evicting policy, but no limit to reach


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-ttl", "allkeys-random"])
def test_a_memory_limit_with_an_evicting_policy_is_named(server: RedisServer,
                                                         policy: str) -> None:
    evicting(server.client(), policy=policy)
    warning = eviction_risk(server.client())
    assert warning is not None
    assert f"maxmemory is 64.00M with maxmemory-policy {policy}" in warning
    assert warning.endswith("Set maxmemory-policy to noeviction.")


def test_a_redis_that_refuses_info_or_does_not_answer_is_not_called_unsafe(
        server: RedisServer) -> None:
    assert eviction_risk(fakeredis.FakeRedis()) is None  # no INFO, as on some managed services
    gone = server.client()
    server.stop()
    assert eviction_risk(gone) is None  # health says Redis is down; this says nothing


def test_the_watch_looks_again_only_after_its_interval(server: RedisServer) -> None:
    now = [0.0]
    watch = EvictionWatch(server.client(), every_s=60, clock=lambda: now[0])
    assert watch.warning() is None
    evicting(server.client())
    now[0] = 59.0
    assert watch.warning() is None  # the last look stands
    now[0] = 60.0
    assert watch.warning() is not None
