"""Idempotency keys: a caller's name for a source (a watch folder's file fingerprint) that
no second job may have. The first job to claim a key owns it; a claim whose job was never
recorded (the process died between the claim and the record) passes to the next job once
``PENDING_S`` has gone by, so a crash loses nothing and a race makes no second job.
"""

from __future__ import annotations

import re
import time

import redis

from common import keys
from common.redis_client import text
from common.store import HEADER

IDEMPOTENCY_KEY_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{1,128}")

PENDING_S = 60

_CLAIM = """
local owner = redis.call('GET', KEYS[1])
if owner then
  local id, at = string.match(owner, '^([^|]+)|(.+)$')
  if id and (redis.call('HEXISTS', ARGV[2] .. id, ARGV[3]) == 1
             or tonumber(ARGV[4]) - tonumber(at) < tonumber(ARGV[5])) then
    return id
  end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[4])
return ARGV[1]
"""


def is_idempotency_key(value: object) -> bool:
    return isinstance(value, str) and IDEMPOTENCY_KEY_PATTERN.fullmatch(value) is not None


class IdempotencyKeys:
    """Claims of idempotency keys, checked and made in one step (a server-side script)."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._claim = client.register_script(_CLAIM)

    def claim(self, key: str, job_id: str) -> str:
        """Claim ``key`` for ``job_id``; return the id of the job that owns it now."""
        owner = self._claim(keys=[keys.idempotency(key)],
                            args=[job_id, keys.job(""), HEADER, time.time(), PENDING_S])
        return text(owner)

    def owner(self, key: str) -> str | None:
        """The job id that claimed ``key`` (its record may not exist yet), or None."""
        raw = self.redis.get(keys.idempotency(key))
        return text(raw).split("|", 1)[0] if raw else None
