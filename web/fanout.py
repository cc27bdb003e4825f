"""The web tier's Socket.IO manager: a job's burst of changes reaches each dashboard once.

Every ``job`` event for the dashboard room is sent to every connected client, and a job
changes several times within a few milliseconds (rendition published, finalizing, done).
Each send to 200 clients is 200 websocket writes, and a burst of them is what held up
``/api/health`` under load. This manager keeps such events for a short window and sends
only the latest per job: the record is the truth and a dashboard shows only the latest
state, so nothing a client needs is lost, and a job's final state is always sent.
Progress, the ``workers`` list and events to one client (a subscription's snapshot) pass
straight through.
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


def coalesce_key(message: dict[str, Any]) -> CoalesceKey | None:
    """Return the key a queued emit is merged under, or None to send it at once."""
    if message.get("event") != EventType.JOB or message.get("callback") or message.get("binary"):
        return None
    room = message.get("room")
    rooms = tuple(room) if isinstance(room, list) else (room,)
    if DASHBOARD_ROOM not in rooms:
        return None
    data = message.get("data")
    payload = data[0] if isinstance(data, list) and data else None
    job_id = payload.get("job_id") if isinstance(payload, dict) else None
    if not isinstance(job_id, str):
        return None
    return job_id, str(message.get("namespace") or "/"), tuple(str(r) for r in rooms)


class CoalescingRedisManager(socketio.RedisManager):  # type: ignore[misc]
    """python-socketio's Redis manager, with dashboard job events merged per job."""

    def __init__(self, *args: Any, window_s: float = JOB_EVENT_WINDOW_S, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.window_s = window_s
        self._pending: dict[CoalesceKey, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.merged = 0
        """Events replaced by a newer one of the same job before they were sent."""

    def _handle_emit(self, message: dict[str, Any]) -> None:
        key = coalesce_key(message)
        if key is None or self.window_s <= 0:
            super()._handle_emit(message)
            return
        with self._lock:
            first = not self._pending
            self.merged += key in self._pending
            self._pending[key] = message
        if first:
            self.server.start_background_task(self._send_after_window)

    def _send_after_window(self) -> None:
        self.server.sleep(self.window_s)
        with self._lock:
            pending, self._pending = self._pending, {}
        for message in pending.values():
            try:
                super()._handle_emit(message)
            except Exception:  # one bad event must not lose the others
                log.warning("could not send a job event", exc_info=True)
