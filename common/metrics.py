"""Counters that workers add to in Redis and the web tier exposes on /metrics."""

from __future__ import annotations

import redis

from common import keys
from common.redis_client import text

RENDITIONS_ENCODED = "renditions_encoded"
FALLBACKS = "fallbacks"
ENCODE_SECONDS = "encode_seconds"
WATCH_CONFLICTS = "watch_conflicts"
"""Job-record transactions that found the record changed and ran again."""


def counter_field(name: str, label: str) -> str:
    return f"{name}|{label}"


def add(client: redis.Redis, name: str, label: str, amount: float = 1.0) -> None:
    client.hincrbyfloat(keys.METRICS, counter_field(name, label), amount)


def read_all(client: redis.Redis) -> dict[str, dict[str, float]]:
    """Return ``{counter name: {label: value}}``."""
    result: dict[str, dict[str, float]] = {}
    for raw_field, raw_value in client.hgetall(keys.METRICS).items():
        name, _, label = text(raw_field).partition("|")
        result.setdefault(name, {})[label] = float(raw_value)
    return result
