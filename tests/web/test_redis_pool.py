"""The web tier's Redis pools hold as many connections as it serves requests at once."""

from __future__ import annotations

import threading
from pathlib import Path

import redis

from common.settings import Settings
from tests.support.redis_server import RedisServer
from web.app import REDIS_SPARE_CONNECTIONS, create_app, redis_pool_size
from web.context import web_context


def test_every_thread_of_the_web_tier_can_hold_a_redis_connection_at_once(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    # redis-py's own default is 100 connections; a burst of 200 Socket.IO subscribes on 256
    # threads once met "Too many connections" and left clients without an answer.
    settings = Settings.from_env({}, redis_url=redis_server.url, data_dir=tmp_path / "data",
                                 web_threads=150)
    app = create_app(settings, message_queue=False)
    context = web_context(app)
    assert redis_pool_size(settings) == 150 + REDIS_SPARE_CONNECTIONS
    errors: list[BaseException] = []
    started = threading.Barrier(settings.web_threads)

    def hold_a_connection() -> None:
        try:
            started.wait(timeout=10)
            context.redis.blpop(["ffcluster:test:never"], timeout=1)  # holds it a second
        except (redis.RedisError, threading.BrokenBarrierError) as exc:
            errors.append(exc)

    threads = [threading.Thread(target=hold_a_connection) for _ in range(settings.web_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not errors, errors[:3]
    assert len(context.redis.connection_pool._available_connections) >= 100
