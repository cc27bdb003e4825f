"""The web tier's Socket.IO manager: a job's burst of changes reaches each dashboard once.

Every ``job`` event for the dashboard room is sent to every connected client, and a job
changes several times within a few milliseconds (rendition published, finalizing, done).
Each send to 200 clients is 200 websocket writes, and a burst of them is what held up
``/api/health`` under load. This manager keeps such events for a short window and sends
only the latest per job: the record is the truth and a dashboard shows only the latest
state, so nothing a client needs is lost, and a job's final state is always sent.
Progress, the ``workers`` list and events to one client (a subscription's snapshot) pass
straight through; one that names a job first sends that job's held events, so no client sees
a job's events out of the order they were published in (a held record older than a progress
event sent before it would move a dashboard's bar back).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import socketio

from common.events import DASHBOARD_ROOM, EventType

log = logging.getLogger(__name__)

JOB_EVENT_WINDOW_S = 0.1
"""How long a dashboard-wide job event waits for a newer one of the same job."""

CoalesceKey = tuple[str, str, tuple[str, ...]]


def job_of(message: dict[str, Any]) -> str | None:
    """The job an emit is about (its envelope's ``job_id``), if any."""
    data = message.get("data")
    payload = data[0] if isinstance(data, list) and data else None
    job_id = payload.get("job_id") if isinstance(payload, dict) else None
    return job_id if isinstance(job_id, str) else None


def coalesce_key(message: dict[str, Any]) -> CoalesceKey | None:
    """Return the key a queued emit is merged under, or None to send it at once."""
    if message.get("event") != EventType.JOB or message.get("callback") or message.get("binary"):
        return None
    room = message.get("room")
    rooms = tuple(room) if isinstance(room, list) else (room,)
    job_id = job_of(message)
    if DASHBOARD_ROOM not in rooms or job_id is None:
        return None
    return job_id, str(message.get("namespace") or "/"), tuple(str(r) for r in rooms)


class CoalescingRedisManager(socketio.RedisManager):  # type: ignore[misc]
    """python-socketio's Redis manager, with dashboard job events merged per job."""

    def __init__(self, *args: Any, window_s: float = JOB_EVENT_WINDOW_S, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.window_s = window_s
        self._pending: dict[CoalesceKey, dict[str, Any]] = {}
        self._lock = threading.Lock()
        """Guards the held events, and is held while handing events on, so a flush and a
        pass-through never interleave."""
        self.merged = 0
        """Events replaced by a newer one of the same job before they were sent."""

    def _handle_emit(self, message: dict[str, Any]) -> None:
        key = coalesce_key(message)
        with self._lock:
            if key is None or self.window_s <= 0:
                for earlier in self._take_pending(job_of(message)):
                    self._send(earlier)
                super()._handle_emit(message)
                return
            first = not self._pending
            self.merged += key in self._pending
            self._pending[key] = message
        if first:
            self.server.start_background_task(self._send_after_window)

    def _take_pending(self, job_id: str | None) -> list[dict[str, Any]]:
        """Remove and return the held events of ``job_id`` (the caller holds the lock)."""
        keys = [key for key in self._pending if job_id is not None and key[0] == job_id]
        return [self._pending.pop(key) for key in keys]

    def _send(self, message: dict[str, Any]) -> None:
        try:
            super()._handle_emit(message)
        except Exception:  # one bad event must not lose the others
            log.warning("could not send a job event", exc_info=True)

    def _send_after_window(self) -> None:
        self.server.sleep(self.window_s)
        with self._lock:
            pending, self._pending = self._pending, {}
            for message in pending.values():
                self._send(message)
