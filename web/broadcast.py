"""The web process's background task: it tells dashboards when the worker list changes,
and when this process loses or regains Redis (so a badge never says Online while no live
event can arrive)."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import redis
from flask import Flask

from common.events import DASHBOARD_ROOM, Envelope, redis_event, workers_event
from common.registry import list_workers
from web.context import web_context
from web.extensions import socketio

log = logging.getLogger(__name__)

POLL_S = 2.0
_VOLATILE = ("last_seen",)


def _signature(workers: list[dict[str, Any]]) -> str:
    stable = [{k: v for k, v in w.items() if k not in _VOLATILE} for w in workers]
    return json.dumps(stable, sort_keys=True)


class WorkersBroadcaster:
    """Poll the registry and emit ``workers`` to this process's dashboards on each change.

    Every web process runs one and emits only to its own clients (``ignore_queue``), so a
    client never gets the same list once per web process.
    """

    def __init__(self, client: redis.Redis, poll_s: float = POLL_S) -> None:
        self.client = client
        """A fast-failing client (the health check's): a poll never hangs in retries."""
        self.poll_s = poll_s
        self.running = True
        self.redis_reachable = True
        self._last: str | None = None

    def poll_once(self) -> list[dict[str, Any]] | None:
        """Return the worker list if it changed since the last poll, else None."""
        workers = [w.to_dict() for w in list_workers(self.client)]
        signature = _signature(workers)
        if signature == self._last:
            return None
        self._last = signature
        return workers

    def run(self) -> None:
        while self.running:
            try:
                workers = self.poll_once()
            except redis.RedisError as exc:  # keep polling through Redis outages
                self._reachable(False, str(exc))
            except Exception:
                log.warning("workers poll failed", exc_info=True)
            else:
                self._reachable(True)
                if workers is not None:
                    _emit_here(workers_event(workers))
            socketio.sleep(self.poll_s)

    def _reachable(self, reachable: bool, why: str = "") -> None:
        """Tell this process's dashboards when Redis comes or goes (only on a change)."""
        if reachable == self.redis_reachable:
            return
        self.redis_reachable = reachable
        log.warning("Redis is %s%s", "reachable again" if reachable else "unreachable",
                    f": {why}" if why else "")
        _emit_here(redis_event(reachable))


def _emit_here(envelope: Envelope) -> None:
    """Emit to this process's own dashboards only (the queue may be the thing that is down)."""
    socketio.emit(str(envelope.type), envelope.payload(), to=DASHBOARD_ROOM, ignore_queue=True)


_lock = threading.Lock()


def start_background_tasks(app: Flask) -> WorkersBroadcaster:
    """Start the workers broadcaster for ``app`` once; return it."""
    with _lock:
        existing = app.extensions.get("ffcluster.broadcaster")
        if existing is not None:
            return existing  # type: ignore[no-any-return]
        broadcaster = WorkersBroadcaster(web_context(app).health_redis)
        app.extensions["ffcluster.broadcaster"] = broadcaster
        socketio.start_background_task(broadcaster.run)
        log.info("workers broadcaster started (every %.1fs)", broadcaster.poll_s)
        return broadcaster
