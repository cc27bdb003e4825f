"""Many Socket.IO clients in one child process, driven over a pipe by tests/chaos/test_load.py.

The clients live outside the test process so that their event handling does not slow the
test's own ``/api/health`` timings, and they share one asyncio loop (python-socketio's
``AsyncClient``): threaded clients (two threads each) cost the machine more CPU than the web
tier they load, so they measured the load generator rather than the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from multiprocessing.connection import Connection
from typing import Any

import socketio

CONNECTS_AT_ONCE = 10
FINAL_STATES = ("done", "failed", "canceled")
LOWEST_PRIORITY = 19


class Client:
    """One websocket-only client that keeps the states of ``job`` events per job."""

    def __init__(self) -> None:
        self.states: dict[str, list[str]] = {}
        self.events = 0
        self.job_id: str | None = None
        self.sio = socketio.AsyncClient(reconnection=False)
        self.sio.on("job", self._on_job)

    async def connect(self, url: str) -> None:
        await self.sio.connect(url, transports=["websocket"], wait_timeout=30)

    async def _on_job(self, payload: dict[str, Any]) -> None:
        self.events += 1
        self.states.setdefault(payload["job_id"], []).append(payload["job"]["state"])

    async def subscribe(self, job_id: str, timeout: float = 30) -> str:
        """Join the job's room; return the state of the snapshot the subscription sent."""
        self.job_id = job_id
        ack = await self.sio.call("subscribe", {"job_id": job_id}, timeout=timeout)
        assert ack == {"ok": True}, ack
        deadline = time.monotonic() + timeout
        while job_id not in self.states:  # the snapshot is emitted before the ack
            if time.monotonic() > deadline:
                raise TimeoutError(f"no snapshot of {job_id} within {timeout}s")
            await asyncio.sleep(0.01)
        return self.states[job_id][-1]

    def got_done(self) -> bool:
        return self.job_id is not None and "done" in self.states.get(self.job_id, [])

    def jobs_ended(self) -> int:
        """How many jobs this client last saw in a final state (it is in the dashboard room,
        so it hears of every job)."""
        return sum(1 for states in self.states.values() if states[-1] in FINAL_STATES)


async def _connect_all(url: str, count: int) -> list[Client]:
    clients = [Client() for _ in range(count)]
    for start in range(0, count, CONNECTS_AT_ONCE):
        await asyncio.gather(*(c.connect(url) for c in clients[start:start + CONNECTS_AT_ONCE]))
    return clients


async def _answer(clients: list[Client], command: str, arg: Any) -> tuple[str, Any]:
    if command == "subscribe":
        states = await asyncio.gather(*(c.subscribe(job) for c, job in zip(clients, arg,
                                                                           strict=True)))
        return "subscribed", list(states)
    if command == "report":
        connected = all(c.sio.connected for c in clients)
        return "report", [(c.job_id, c.got_done(), c.events, connected, c.jobs_ended())
                          for c in clients]
    if command == "resync":
        missing = [c for c in clients if not c.got_done()]
        after = await asyncio.gather(*(c.subscribe(str(c.job_id)) for c in missing))
        return "resynced", (len(missing), list(after))
    raise ValueError(f"unknown command {command!r}")


async def _serve(conn: Connection, url: str, count: int) -> None:
    loop = asyncio.get_running_loop()
    clients: list[Client] = []
    command = "connect"
    try:
        clients = await _connect_all(url, count)
        conn.send(("connected", len(clients)))
        while True:
            command, arg = await loop.run_in_executor(None, conn.recv)
            if command == "close":
                break
            conn.send(await _answer(clients, command, arg))
    except Exception as exc:  # report anything to the parent instead of hanging it
        conn.send(("error", f"{command}: {exc!r}"))
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                await client.sio.disconnect()
        conn.close()


def yield_the_cpu() -> None:
    """Run at the lowest priority: the clients stand in for browsers on other machines, so
    the CPU they need here must not be taken from the server they measure."""
    os.nice(LOWEST_PRIORITY)
    with contextlib.suppress(OSError), open("/proc/self/autogroup", "w") as group:
        group.write(str(LOWEST_PRIORITY))


def serve(conn: Connection, url: str, count: int) -> None:
    """Child process entry: connect ``count`` clients, then answer the parent's commands."""
    os.setsid()  # its own session, so its own scheduler autogroup, as a remote browser's
    yield_the_cpu()
    asyncio.run(_serve(conn, url, count))
