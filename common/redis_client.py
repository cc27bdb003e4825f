"""Redis connections with the timeouts and retries every ffcluster process uses.

``FFCLUSTER_REDIS_URL`` is a plain ``redis://`` URL or the Sentinel form python-socketio
reads, ``redis+sentinel://[:password@]host1:26379,host2:26379/DB/SERVICE``: the clients
made here then ask the Sentinels for the current primary, and again after every
connection error, so a failover is followed without a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlparse

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

SENTINEL_SCHEME = "redis+sentinel"


@dataclass(frozen=True)
class SentinelTarget:
    """What a ``redis+sentinel://`` URL names: the Sentinels, the service, the database."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None


def sentinel_target(url: str) -> SentinelTarget | None:
    """Parse a Sentinel URL (None for any other URL); ValueError says what is wrong."""
    parsed = urlparse(url)
    if parsed.scheme != SENTINEL_SCHEME:
        return None
    hosts = parsed.netloc.rpartition("@")[2]
    sentinels = []
    for host_port in filter(None, hosts.split(",")):
        host, _, port = host_port.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"{host_port!r} in the Sentinel URL is not host:port")
        sentinels.append((host.strip("[]"), int(port)))
    parts = [p for p in parsed.path.split("/") if p]
    if not sentinels or len(parts) != 2 or not parts[0].isdigit():
        raise ValueError("a Sentinel URL reads redis+sentinel://[:password@]host:port,"
                         "host:port/DB/SERVICE")
    return SentinelTarget(tuple(sentinels), parts[1], int(parts[0]),
                          unquote(parsed.username) if parsed.username else None,
                          unquote(parsed.password) if parsed.password else None)


def connect(url: str, *, connect_timeout_s: float = 5, timeout_s: float = 10,
            retries: int = 5, max_connections: int | None = None) -> redis.Redis:
    """Return a client that retries briefly on connection errors instead of failing at once.

    ``retries=0`` makes a client that fails fast (health checks). ``max_connections`` sizes
    its pool (redis-py's default is 100): a process with more threads than that which all
    use Redis at once, as the web tier does, must say so or meet "Too many connections".
    """
    retry = (Retry(ExponentialBackoff(cap=2.0, base=0.1), retries) if retries
             else Retry(NoBackoff(), 0))
    options = {"socket_connect_timeout": connect_timeout_s, "socket_timeout": timeout_s,
               "health_check_interval": 15, "retry": retry,
               "retry_on_error": [redis.ConnectionError, redis.TimeoutError]}
    if max_connections is not None:
        options["max_connections"] = max_connections
    target = sentinel_target(url)
    if target is None:
        return redis.Redis.from_url(url, **options)
    sentinel = Sentinel(list(target.sentinels),
                        sentinel_kwargs={"socket_connect_timeout": connect_timeout_s,
                                         "socket_timeout": timeout_s},
                        db=target.db, username=target.username, password=target.password)
    return sentinel.master_for(target.service, **options)


def text(value: bytes | str) -> str:
    """Return a Redis reply as text (clients here do not set ``decode_responses``)."""
    return value.decode() if isinstance(value, bytes) else value
