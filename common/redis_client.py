"""Redis connections with the timeouts and retries every ffcluster process uses."""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry


def connect(url: str) -> redis.Redis:
    """Return a client that retries briefly on connection errors instead of failing at once."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=5,
        socket_timeout=10,
        health_check_interval=15,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.1), retries=5),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
    )


def text(value: bytes | str) -> str:
    """Return a Redis reply as text (clients here do not set ``decode_responses``)."""
    return value.decode() if isinstance(value, bytes) else value
