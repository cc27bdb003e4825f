"""The reaper: queue again the work whose worker stopped renewing its lease."""

from __future__ import annotations

import logging

import redis

from common import keys
from common.jobs import Job
from common.registry import choose_queue
from common.store import JobStore, StaleUpdate
from common.tasknames import QUEUE_CPU, QUEUE_GPU
from common.workref import BadWorkRef, WorkKind, WorkRef
from workers.runtime.context import TaskSender
from workers.steps import record
from workers.steps.leased import task_for, work_open

log = logging.getLogger(__name__)

REAP_LOCK_MS = 10_000


def _requeue(producer: TaskSender, store: JobStore, job: Job, ref: WorkRef) -> None:
    """Put one abandoned, still open piece of work back on its queue."""
    queue = None
    if ref.kind == WorkKind.CHUNK:
        index = int(ref.index or 0)
        for rendition in [r for r in job.renditions if r.chunk_open(index)]:
            store.update_rendition(job.id, rendition.profile, record.chunk_requeued(index))
    elif ref.kind == WorkKind.RENDITION:
        codec = job.rendition(str(ref.profile)).video_codec
        queue = choose_queue(store.redis, codec)  # a GPU worker may have gone since planning
        store.update_rendition(job.id, str(ref.profile), record.requeued(queue))
    name, args, queue = task_for(job, ref, queue)
    producer.send_task(name, args=args, queue=queue)


def requeue_abandoned(producer: TaskSender, store: JobStore) -> list[WorkRef]:
    """Requeue every listed piece of work whose lease has lapsed; return what was requeued."""
    client = store.redis
    requeued = []
    for raw in client.smembers(keys.ACTIVE_WORK):
        try:
            ref = WorkRef.parse(raw)
        except BadWorkRef as exc:
            log.warning("dropping a malformed entry from the active set: %s", exc)
            client.srem(keys.ACTIVE_WORK, raw)
            continue
        if client.exists(keys.lease(ref)):
            continue
        if not client.set(keys.reap_lock(ref), "1", nx=True, px=REAP_LOCK_MS):
            continue
        job = store.get(ref.job_id)
        try:
            if work_open(job, ref) and job is not None:
                _requeue(producer, store, job, ref)
                log.warning("requeued abandoned work %s", ref)
                requeued.append(ref)
        except StaleUpdate:
            pass
        client.srem(keys.ACTIVE_WORK, raw)
    return requeued


def rescue_stranded_gpu_tasks(client: redis.Redis) -> int:
    """Move tasks waiting on ``gpu`` to ``cpu`` while no GPU-tagged worker is online."""
    if choose_queue(client) == QUEUE_GPU:
        return 0
    moved = 0
    while client.rpoplpush(QUEUE_GPU, QUEUE_CPU) is not None:
        moved += 1
    if moved:
        log.warning("no GPU worker online: moved %d waiting task(s) from gpu to cpu", moved)
    return moved
