"""Worker advertisements in Redis: who is online, with which encoders, doing what."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import redis

from common import keys
from common.codecs import FAMILIES, all_hardware_encoders, parse_codec
from common.redis_client import text
from common.tasknames import QUEUE_CPU, QUEUE_GPU

OFFLINE_FORGET_S = 3600
"""How long a worker that stopped heartbeating is still listed as offline."""


@dataclass
class WorkerInfo:
    hostname: str
    gpu: bool
    encoders: list[str]
    ffmpeg_version: str
    concurrency: int
    queues: list[str]
    pid: int
    started_at: float = field(default_factory=time.time)
    last_seen: float = field(default_factory=time.time)
    tasks: list[str] = field(default_factory=list)
    hw_failures: dict[str, str] = field(default_factory=dict)
    codecs: list[str] = field(default_factory=lambda: ["h264"])
    """Video codecs it can encode (``h264``, ``hevc``, ``av1``): software or working hardware."""
    hardware: list[str] = field(default_factory=list)
    """The hardware encoders it tries first (a ``gpu`` worker: those whose test encode worked,
    or with ``--gpu on`` every one its FFmpeg lists); routing reads it per codec."""
    online: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkerInfo:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


def announce(client: redis.Redis, info: WorkerInfo, ttl_s: float) -> None:
    """Write the worker's advertisement; it disappears ``ttl_s`` after the last call."""
    info.last_seen = time.time()
    info.tasks = sorted(text(t) for t in client.smembers(keys.worker_tasks(info.hostname)))
    pipe = client.pipeline()
    pipe.set(keys.worker(info.hostname), json.dumps(info.to_dict()), px=int(ttl_s * 1000))
    pipe.zadd(keys.WORKER_INDEX, {info.hostname: info.last_seen})
    pipe.execute()


def retire(client: redis.Redis, hostname: str) -> None:
    """Remove a worker that shut down cleanly (it is then listed offline, not online)."""
    client.delete(keys.worker(hostname), keys.worker_tasks(hostname))


def get_worker(client: redis.Redis, hostname: str) -> WorkerInfo | None:
    raw = client.get(keys.worker(hostname))
    return WorkerInfo.from_dict(json.loads(raw)) if raw else None


def list_workers(client: redis.Redis, include_offline: bool = True) -> list[WorkerInfo]:
    """Return online workers, then recently seen offline ones, each sorted by hostname."""
    now = time.time()
    client.zremrangebyscore(keys.WORKER_INDEX, 0, now - OFFLINE_FORGET_S)
    seen = client.zrange(keys.WORKER_INDEX, 0, -1, withscores=True)
    names = [text(name) for name, _ in seen]
    raws = client.mget([keys.worker(n) for n in names]) if names else []
    online, offline = [], []
    for (name, score), raw in zip(seen, raws, strict=True):
        if raw:
            online.append(WorkerInfo.from_dict(json.loads(raw)))
        elif include_offline:
            offline.append(
                WorkerInfo(hostname=text(name), gpu=False, encoders=[], ffmpeg_version="",
                           concurrency=0, queues=[], pid=0, last_seen=score, online=False)
            )
    return sorted(online, key=lambda w: w.hostname) + sorted(offline, key=lambda w: w.hostname)


def queue_for(online: list[WorkerInfo], codec: str | None = None) -> str:
    """``gpu`` when an ``online`` worker consumes it and has a hardware encoder for ``codec``
    (any codec when None), else ``cpu`` (which every worker consumes): an AV1 rung is not
    sent to GPU workers whose hardware encodes only H.264 and HEVC."""
    wanted = set(all_hardware_encoders()) if codec is None else set(
        FAMILIES[parse_codec(codec)].hardware)
    for worker in online:
        if QUEUE_GPU in worker.queues and (not worker.hardware or wanted & set(worker.hardware)):
            return QUEUE_GPU
    return QUEUE_CPU


def choose_queue(client: redis.Redis, codec: str | None = None) -> str:
    """Return ``gpu`` when a GPU worker with hardware for ``codec`` is online, else ``cpu``:
    no task waits unserved."""
    return queue_for(list_workers(client, include_offline=False), codec)
