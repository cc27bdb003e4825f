"""The web process's background task that tells dashboards when the worker list changes."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import redis
from flask import Flask

from common.events import DASHBOARD_ROOM, workers_event
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
        self.poll_s = poll_s
        self.running = True
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
                if workers is not None:
                    socketio.emit("workers", workers_event(workers).payload(),
                                  to=DASHBOARD_ROOM, ignore_queue=True)
            except Exception:  # keep polling through Redis outages
                log.warning("workers poll failed", exc_info=True)
            socketio.sleep(self.poll_s)


_lock = threading.Lock()


def start_background_tasks(app: Flask) -> WorkersBroadcaster:
    """Start the workers broadcaster for ``app`` once; return it."""
    with _lock:
        existing = app.extensions.get("ffcluster.broadcaster")
        if existing is not None:
            return existing  # type: ignore[no-any-return]
        broadcaster = WorkersBroadcaster(web_context(app).redis)
        app.extensions["ffcluster.broadcaster"] = broadcaster
        socketio.start_background_task(broadcaster.run)
        log.info("workers broadcaster started (every %.1fs)", broadcaster.poll_s)
        return broadcaster
