"""A python-socketio client that records events, for tests against real web processes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import socketio

from common import keys
from tests.support.ports import wait_for


def per_rendition(progress: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One dict per rendition of each ``progress`` event: the envelope's fields (job id,
    ``ts``, a recorder's receipt time) beside that rendition's values."""
    return [{**{k: v for k, v in event.items() if k != "renditions"}, **rendition}
            for event in progress for rendition in event["renditions"]]


class RecordingClient:
    """Connect to a web process and keep every ``job``, ``progress`` and ``workers`` event."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self.sio = socketio.Client(reconnection=False)
        for name in ("job", "progress", "workers"):
            self.sio.on(name, self._recorder(name))
        self.sio.connect(url, auth={"token": token} if token else None, wait_timeout=15)

    def _recorder(self, name: str) -> Callable[[dict[str, Any]], None]:
        def record(payload: dict[str, Any]) -> None:
            with self._lock:
                self.events.append((name, payload))

        return record

    def received(self, name: str) -> list[dict[str, Any]]:
        with self._lock:
            return [payload for event, payload in self.events if event == name]

    def wait_for(
        self, name: str, match: Callable[[dict[str, Any]], bool], timeout: float = 15
    ) -> dict[str, Any]:
        """Return the first ``name`` event that ``match`` accepts, polling until ``timeout``."""

        def found() -> dict[str, Any] | None:
            return next((p for p in self.received(name) if match(p)), None)

        return wait_for(found, timeout=timeout, message=f"{name} event")

    def subscribe(self, job_id: str) -> dict[str, Any]:
        ack: dict[str, Any] = self.sio.call("subscribe", {"job_id": job_id}, timeout=10)
        return ack

    def close(self) -> None:
        self.sio.disconnect()


def wait_for_listeners(redis_client: Any, count: int, timeout: float = 15) -> None:
    """Wait until ``count`` web processes listen on the Socket.IO channel (pub/sub is lossy)."""

    def listening() -> bool:
        [(_, subscribers)] = redis_client.pubsub_numsub(keys.SOCKETIO_CHANNEL)
        return int(subscribers) >= count

    wait_for(listening, timeout=timeout, message=f"{count} Socket.IO listeners")
