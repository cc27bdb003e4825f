"""Load generators in their own processes: paced GET requests and Socket.IO ack round trips.

Each loader gets ready (imports, connects), waits for a shared ``go`` event, runs its paced
loop and sends its samples back, so the measuring process is never the one measured. A
sample is (wall time sent, latency in seconds, ok).
"""

from __future__ import annotations

import http.client
import multiprocessing as mp
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from bench.procfs import CpuSampler

Sample = tuple[float, float, bool]
PING_EVENT = "ping"
"""The web tier's latency-check event: acknowledged at once, no Redis."""
PING_DATA: dict[str, Any] = {}
READY_TIMEOUT_S = 60.0


def mp_context() -> Any:
    """Return a forkserver context that preloads the clients, so loaders start in ms."""
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["bench.load", "socketio", "websocket"])
    return ctx


@dataclass(frozen=True)
class LoadPlan:
    """How many requests of each kind, how many HTTP processes, and their pacing."""

    health: int
    socketio: int
    pages: int
    http_procs: int = 2
    health_interval_s: float = 0.01
    socketio_interval_s: float = 0.05
    page_interval_s: float = 0.5


@dataclass
class LoadResult:
    health: list[Sample] = field(default_factory=list)
    socketio: list[Sample] = field(default_factory=list)
    pages: list[Sample] = field(default_factory=list)
    disconnects: int = 0
    cpu: list[tuple[float, float]] = field(default_factory=list)
    started_at: float = 0.0
    ended_at: float = 0.0


def _paced(count: int, interval_s: float, once: Callable[[], bool]) -> list[Sample]:
    samples: list[Sample] = []
    start = time.perf_counter()
    for index in range(count):
        delay = start + index * interval_s - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        sent, t0 = time.time(), time.perf_counter()
        try:
            ok = once()
        except Exception:  # a failed request is a sample too, marked not ok
            ok = False
        samples.append((sent, time.perf_counter() - t0, ok))
    return samples


def _http_loader(name: str, base_url: str, path: str, count: int, interval_s: float,
                 go: Any, out: Any) -> None:
    """GET ``path`` ``count`` times on a fresh connection each, as a health checker does."""
    parts = urlsplit(base_url)

    def once() -> bool:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            return response.status == 200
        finally:
            conn.close()

    out.put(("ready", name, None))
    go.wait(READY_TIMEOUT_S * 2)
    out.put(("result", name, {"samples": _paced(count, interval_s, once)}))


def connect_client(base_url: str, on_disconnect: Callable[[], None]) -> Any:
    """Return a connected python-socketio client over WebSocket."""
    import socketio

    client = socketio.Client(reconnection=True, reconnection_delay=0.2)
    client.on("disconnect", lambda *args: on_disconnect())
    client.connect(base_url, transports=["websocket"], wait_timeout=10)
    return client


def _sio_loader(name: str, base_url: str, count: int, interval_s: float,
                go: Any, out: Any) -> None:
    """Emit the ping event with an ack ``count`` times; count unplanned disconnects."""
    state = {"disconnects": 0, "closing": False}

    def lost() -> None:
        if not state["closing"]:
            state["disconnects"] += 1

    client = connect_client(base_url, lost)
    out.put(("ready", name, None))
    go.wait(READY_TIMEOUT_S * 2)
    samples = _paced(count, interval_s,
                     lambda: bool(client.call(PING_EVENT, PING_DATA, timeout=5).get("ok")))
    state["closing"] = True
    out.put(("result", name, {"samples": samples, "disconnects": state["disconnects"]}))
    client.disconnect()


def run_load(base_url: str, plan: LoadPlan, before_go: Callable[[], None] | None = None,
             timeout_s: float = 600.0) -> LoadResult:
    """Start the loaders, call ``before_go`` once all are ready, run them, sample the CPU."""
    ctx = mp_context()
    go, out = ctx.Event(), ctx.Queue()
    per_proc = -(-plan.health // plan.http_procs)
    specs: list[tuple[str, Callable[..., None], tuple[Any, ...]]] = [
        (f"health{i}", _http_loader, ("/api/health", per_proc, plan.health_interval_s))
        for i in range(plan.http_procs)
    ]
    specs.append(("socketio", _sio_loader, (plan.socketio, plan.socketio_interval_s)))
    if plan.pages:
        specs.append(("pages", _http_loader, ("/", plan.pages, plan.page_interval_s)))
    procs = [ctx.Process(target=fn, args=(name, base_url, *args, go, out), daemon=True)
             for name, fn, args in specs]
    for proc in procs:
        proc.start()
    try:
        for _ in procs:
            kind, name, _payload = out.get(timeout=READY_TIMEOUT_S)
            assert kind == "ready", name
        if before_go is not None:
            before_go()
        return _collect(go, out, len(procs), timeout_s)
    finally:
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()


def _collect(go: Any, out: Any, expected: int, timeout_s: float) -> LoadResult:
    result = LoadResult()
    sampler = CpuSampler()
    result.started_at = time.time()
    go.set()
    deadline = time.monotonic() + timeout_s
    received = 0
    while received < expected:
        if time.monotonic() > deadline:
            raise TimeoutError("the load generators did not finish in time")
        try:
            _kind, name, payload = out.get(timeout=0.25)
        except queue.Empty:
            sampler.sample()
            continue
        received += 1
        target = {"socketio": result.socketio, "pages": result.pages}.get(name, result.health)
        target.extend(payload["samples"])
        result.disconnects += int(payload.get("disconnects", 0))
    sampler.sample()
    samples = result.health + result.socketio + result.pages
    result.ended_at = max((sent + latency for sent, latency, _ok in samples),
                          default=time.time())
    result.cpu = [(t, pct) for t, pct in sampler.samples if t <= result.ended_at + 0.25]
    return result
