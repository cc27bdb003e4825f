"""A Socket.IO client in its own process that stays connected through a whole cluster run.

Like the dashboard it joins the room of each job it hears of (progress goes there only).
It records each ``progress`` event's latency (receipt minus the envelope ``ts`` the worker
set), each ``job`` event's state and receipt time, and every disconnect it did not ask for
(a missed heartbeat or a dropped connection).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from bench.load import connect_client, mp_context

READY_TIMEOUT_S = 60.0


@dataclass
class WatchResult:
    progress: list[tuple[str, float, float]] = field(default_factory=list)
    """(job id, receipt wall time, latency s) per ``progress`` event."""
    jobs: list[tuple[str, str, float]] = field(default_factory=list)
    """(job id, state, receipt wall time) per ``job`` event."""
    disconnects: int = 0
    connected_s: float = 0.0


def _watch(base_url: str, stop: Any, out: Any) -> None:
    result = WatchResult()
    closing = {"now": False}

    def lost() -> None:
        if not closing["now"]:
            result.disconnects += 1

    client = connect_client(base_url, lost)

    @client.on("progress")
    def on_progress(data: dict[str, Any]) -> None:
        now = time.time()
        result.progress.append((str(data.get("job_id")), now, now - float(data["ts"])))

    subscribed: set[str] = set()

    @client.on("job")
    def on_job(data: dict[str, Any]) -> None:
        job = data.get("job", {})
        job_id = str(job.get("id"))
        result.jobs.append((job_id, str(job.get("state")), time.time()))
        if job_id not in subscribed:  # progress goes to the job's room, as for a dashboard
            subscribed.add(job_id)
            client.emit("subscribe", {"job_id": job_id})

    started = time.monotonic()
    out.put("ready")
    stop.wait()
    result.connected_s = round(time.monotonic() - started, 1)
    closing["now"] = True
    client.disconnect()
    out.put(result)


class Watcher:
    """Start with :meth:`start`, end with :meth:`stop`, which returns what it saw."""

    def __init__(self, base_url: str) -> None:
        ctx = mp_context()
        self._stop, self._out = ctx.Event(), ctx.Queue()
        self._proc = ctx.Process(target=_watch, args=(base_url, self._stop, self._out),
                                 daemon=True)

    def start(self) -> Watcher:
        self._proc.start()
        if self._out.get(timeout=READY_TIMEOUT_S) != "ready":
            raise RuntimeError("the Socket.IO watcher did not connect")
        return self

    def stop(self) -> WatchResult:
        self._stop.set()
        try:
            result: WatchResult = self._out.get(timeout=30)
        finally:
            self._proc.join(timeout=5)
            if self._proc.is_alive():
                self._proc.kill()
        return result
