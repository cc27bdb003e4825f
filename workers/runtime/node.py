"""Worker life cycle: GPU tagging before it consumes, the heartbeat while it runs."""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import celeryd_after_setup, worker_ready, worker_shutdown

from common.tasknames import QUEUE_CPU, QUEUE_GPU
from workers.ffmpeg.encoders import (
    ffmpeg_version,
    listed_hardware_encoders,
    probe_hardware_encoders,
    software_codecs,
)
from workers.runtime.context import WorkerContext, context_of
from workers.runtime.heartbeat import Heartbeat

log = logging.getLogger(__name__)

_heartbeat: Heartbeat | None = None


def tag_worker(ctx: WorkerContext) -> bool:
    """Probe hardware encoders and decide the GPU tag; return whether the worker is tagged."""
    settings = ctx.settings
    ctx.ffmpeg_version = ffmpeg_version(settings.ffmpeg_bin)
    ctx.software_codecs = [codec.value for codec in software_codecs(settings.ffmpeg_bin)]
    if settings.gpu == "off":
        return False
    working, failures = probe_hardware_encoders(settings.ffmpeg_bin, settings.ffmpeg_nice)
    ctx.hardware_failures = failures
    if working:
        ctx.hardware_encoders = working
    elif settings.gpu == "on":
        # Tagged by request: try every listed encoder so a failing GPU falls back visibly.
        ctx.hardware_encoders = listed_hardware_encoders(settings.ffmpeg_bin)
    ctx.gpu_tagged = bool(working) or settings.gpu == "on"
    return ctx.gpu_tagged


@celeryd_after_setup.connect
def _after_setup(sender: str, instance: Any, **_: Any) -> None:
    ctx = context_of(instance.app)
    ctx.hostname = sender
    if tag_worker(ctx):
        queues = instance.app.amqp.queues
        queues.select_add(queues[QUEUE_GPU])
    log.info("worker %s: gpu=%s encoders=%s codecs=%s", sender, ctx.gpu_tagged,
             ctx.hardware_encoders, ctx.software_codecs)


@worker_ready.connect
def _start_heartbeat(sender: Any, **_: Any) -> None:
    global _heartbeat
    app = sender.app
    queues = sorted(q.name for q in app.amqp.queues.consume_from.values()) or [QUEUE_CPU]
    _heartbeat = Heartbeat(context_of(app), queues)
    _heartbeat.beat()
    _heartbeat.start()


@worker_shutdown.connect
def _stop_heartbeat(**_: Any) -> None:
    if _heartbeat is not None:
        _heartbeat.stop()
