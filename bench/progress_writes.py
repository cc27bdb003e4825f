"""What one progress event costs Redis, and whether writers of one job conflict.

Against a real redis-server (the cluster's), per event: commands and bytes received by
Redis (``INFO commandstats`` and ``total_net_input_bytes`` deltas), for ladders of 1, 3 and
6 renditions and a chunked job, through the live-progress script (now) and through a WATCH
transaction on the whole job record (how every block was written before). Then two writer
threads on different renditions and slices of one job: WATCH conflicts for each way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import redis

from common import metrics
from common.jobs import Job, Rendition
from common.states import JobState, RenditionState
from common.store import JobStore

EVENTS = 200
VALUES = {"percent": 42.5, "fps": 48.0, "bitrate_kbps": 2780.4, "speed": 1.9, "eta_s": 7.5}


def _job(store: JobStore, renditions: int, chunks: int = 0) -> Job:
    return store.create(Job.new("bench.mp4", "bench.mp4", state=JobState.ENCODING, renditions=[
        Rendition(f"r{i}", state=RenditionState.ENCODING, chunks=chunks,
                  chunk_percent=[0.0] * chunks, chunk_attempts=[1] * chunks,
                  target={"name": f"r{i}", "height": 720, "video_bitrate_kbps": 2800,
                          "maxrate_kbps": 2996, "bufsize_kbps": 4200})
        for i in range(renditions)]))


def _counters(client: redis.Redis) -> tuple[int, int, int]:
    """Commands run (a script's own commands included), bytes received, bytes sent."""
    stats = client.info("commandstats")
    calls = sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")
    net = client.info("stats")
    return calls, int(net["total_net_input_bytes"]), int(net["total_net_output_bytes"])


def _transaction_write(store: JobStore, job: Job, profile: str, chunk: int | None) -> None:
    def apply(_job: Job, rendition: Rendition) -> None:
        for name, value in VALUES.items():
            setattr(rendition, name, value)
        if chunk is not None:
            rendition.set_chunk_percent(chunk, VALUES["percent"])

    store.update_rendition(job.id, profile, apply)


def _script_write(store: JobStore, job: Job, profile: str, chunk: int | None) -> None:
    if chunk is None:
        store.record_progress(job.id, {profile: VALUES})
    else:
        store.record_progress(job.id, {profile: {k: v for k, v in VALUES.items()
                                                 if k != "percent"}}, (chunk, VALUES["percent"]))


Writer = Callable[[JobStore, Job, str, int | None], None]
WAYS: dict[str, Writer] = {"before_transaction": _transaction_write, "after_script": _script_write}


def _per_event(store: JobStore, way: Writer, renditions: int, chunks: int) -> dict[str, float]:
    job = _job(store, renditions, chunks)
    before = _counters(store.redis)
    for n in range(EVENTS):
        way(store, job, f"r{n % renditions}", (n % chunks) if chunks else None)
    after = _counters(store.redis)
    return {"commands_per_event": round((after[0] - before[0]) / EVENTS, 2),
            "bytes_written_per_event": round((after[1] - before[1]) / EVENTS, 1),
            "bytes_read_per_event": round((after[2] - before[2]) / EVENTS, 1)}


def _conflicts(store: JobStore, way: Writer) -> int:
    """Two threads (two workers) write slices of different renditions of one job at once."""
    job = _job(store, 2, chunks=4)
    store.redis.hdel("ffc:metrics", metrics.counter_field(metrics.WATCH_CONFLICTS, "job"))

    def write(profile: str) -> None:
        for n in range(EVENTS):
            way(store, job, profile, n % 4)

    threads = [threading.Thread(target=write, args=(p,)) for p in ("r0", "r1")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return int(metrics.read_all(store.redis).get(metrics.WATCH_CONFLICTS, {}).get("job", 0))


def progress_writes(redis_url: str) -> dict[str, Any]:
    client = redis.Redis.from_url(redis_url)
    store = JobStore(client)
    report: dict[str, Any] = {"events": EVENTS}
    for name, way in WAYS.items():
        costs = {f"{n}_renditions": _per_event(store, way, n, 0) for n in (1, 3, 6)}
        costs["3_renditions_8_chunks"] = _per_event(store, way, 3, 8)
        costs["watch_conflicts_two_writers"] = _conflicts(store, way)
        report[name] = costs
    return report
