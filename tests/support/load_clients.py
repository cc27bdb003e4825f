"""Many Socket.IO clients in one child process, driven over a pipe by tests/chaos/test_load.py.

The clients live outside the test process so that their event handling does not slow the
test's own ``/api/health`` timings.
"""

from __future__ import annotations

import contextlib
import threading
from multiprocessing.connection import Connection
from typing import Any

import socketio


class Client:
    """One websocket-only client that keeps the states of ``job`` events per job."""

    def __init__(self, url: str) -> None:
        self.states: dict[str, list[str]] = {}
        self.events = 0
        self.job_id: str | None = None
        self._lock = threading.Lock()
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("job", self._on_job)
        self.sio.connect(url, transports=["websocket"], wait_timeout=30)

    def _on_job(self, payload: dict[str, Any]) -> None:
        with self._lock:
            self.events += 1
            self.states.setdefault(payload["job_id"], []).append(payload["job"]["state"])

    def subscribe(self, job_id: str) -> str:
        """Join the job's room; return the state the subscription answered with."""
        self.job_id = job_id
        ack = self.sio.call("subscribe", {"job_id": job_id}, timeout=30)
        assert ack == {"ok": True}, ack
        with self._lock:
            return self.states[job_id][-1]

    def got_done(self) -> bool:
        with self._lock:
            return self.job_id is not None and "done" in self.states.get(self.job_id, [])


def serve(conn: Connection, url: str, count: int) -> None:
    """Child process entry: connect ``count`` clients, then answer the parent's commands."""
    clients: list[Client] = []
    try:
        for _ in range(count):
            clients.append(Client(url))
        conn.send(("connected", len(clients)))
        while True:
            command, arg = conn.recv()
            if command == "subscribe":
                conn.send(("subscribed", [c.subscribe(job) for c, job in zip(clients, arg,
                                                                                strict=True)]))
            elif command == "report":
                conn.send(("report", [(c.job_id, c.got_done(), c.events,
                                       all(c.sio.connected for c in clients)) for c in clients]))
            elif command == "resync":
                missing = [c for c in clients if not c.got_done()]
                after = [c.subscribe(str(c.job_id)) for c in missing]
                conn.send(("resynced", (len(missing), after)))
            elif command == "close":
                break
    except Exception as exc:  # report anything to the parent instead of hanging it
        conn.send(("error", repr(exc)))
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                client.sio.disconnect()
        conn.close()
