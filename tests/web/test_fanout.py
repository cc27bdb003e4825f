"""The web tier's manager merges a job's burst of dashboard events and passes the rest."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import socketio

from common.events import DASHBOARD_ROOM, EVENT_VERSION, job_room
from web.fanout import CoalescingRedisManager, coalesce_key


def _message(event: str, job_id: str, room: Any, state: str = "encoding",
             **extra: Any) -> dict[str, Any]:
    payload = {"v": EVENT_VERSION, "type": event, "job_id": job_id,
               "job": {"id": job_id, "state": state}}
    return {"method": "emit", "event": event, "data": [payload], "binary": False,
            "namespace": "/", "room": room, "skip_sid": None, "callback": None, **extra}


class FakeServer:
    """Keeps background tasks to run by hand; its sleep returns at once."""

    def __init__(self) -> None:
        self.tasks: list[Callable[[], None]] = []

    def start_background_task(self, target: Callable[[], None]) -> None:
        self.tasks.append(target)

    def sleep(self, seconds: float) -> None:
        pass

    def run_tasks(self) -> None:
        tasks, self.tasks = self.tasks, []
        for task in tasks:
            task()


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every message the manager hands on to python-socketio's own fan-out."""
    handed: list[dict[str, Any]] = []
    monkeypatch.setattr(socketio.PubSubManager, "_handle_emit",
                        lambda self, message: handed.append(message))
    return handed


def _manager(window_s: float = 0.1) -> tuple[CoalescingRedisManager, FakeServer]:
    manager = CoalescingRedisManager("redis://127.0.0.1:1/0", window_s=window_s)
    server = FakeServer()
    manager.server = server
    return manager, server


def test_a_jobs_burst_reaches_the_dashboard_once_with_its_latest_state(
    sent: list[dict[str, Any]],
) -> None:
    manager, server = _manager()
    rooms = [DASHBOARD_ROOM, job_room("a")]
    for state in ("encoding", "finalizing", "done"):
        manager._handle_emit(_message("job", "a", rooms, state))
    manager._handle_emit(_message("job", "b", rooms, "queued"))
    assert sent == [] and len(server.tasks) == 1  # one flush per window, not per event
    server.run_tasks()
    assert [(m["data"][0]["job_id"], m["data"][0]["job"]["state"]) for m in sent] == [
        ("a", "done"), ("b", "queued")]
    assert manager.merged == 2
    manager._handle_emit(_message("job", "a", rooms, "done"))
    assert len(server.tasks) == 1, "the next event opens a new window"


@pytest.mark.parametrize("message", [
    _message("progress", "a", [job_room("a")]),
    _message("job", "a", "some-client-sid"),
    _message("job", "a", [DASHBOARD_ROOM], callback=["sid", "/", 1]),
    {"method": "emit", "event": "workers", "data": [{"workers": []}], "room": DASHBOARD_ROOM},
    _message("job", "a", DASHBOARD_ROOM) | {"data": ["not a payload"]},
], ids=["progress", "one-client-snapshot", "with-callback", "workers", "no-job-id"])
def test_everything_else_passes_straight_through(
    sent: list[dict[str, Any]], message: dict[str, Any],
) -> None:
    manager, server = _manager()
    assert coalesce_key(message) is None
    manager._handle_emit(message)
    assert sent == [message] and server.tasks == []


def test_a_zero_window_sends_each_event_at_once(sent: list[dict[str, Any]]) -> None:
    manager, server = _manager(window_s=0)
    first, second = (_message("job", "a", DASHBOARD_ROOM, s) for s in ("encoding", "done"))
    manager._handle_emit(first)
    manager._handle_emit(second)
    assert sent == [first, second] and server.tasks == []


def test_the_key_separates_jobs_rooms_and_namespaces() -> None:
    base = _message("job", "a", [DASHBOARD_ROOM, job_room("a")])
    assert coalesce_key(base) == ("a", "/", (DASHBOARD_ROOM, job_room("a")))
    assert coalesce_key(_message("job", "b", [DASHBOARD_ROOM])) != coalesce_key(base)
    assert coalesce_key(base | {"namespace": "/other"}) != coalesce_key(base)


def test_an_event_of_a_job_sends_that_jobs_held_events_first(
    sent: list[dict[str, Any]],
) -> None:
    """A progress event must not overtake the job record published before it (the record's
    older percent would move the dashboard's bar back); other jobs stay held."""
    manager, server = _manager()
    rooms = [DASHBOARD_ROOM, job_room("a")]
    record_a = _message("job", "a", rooms, "encoding")
    record_b = _message("job", "b", rooms, "queued")
    manager._handle_emit(record_a)
    manager._handle_emit(record_b)
    progress = _message("progress", "a", [job_room("a")])
    manager._handle_emit(progress)
    assert sent == [record_a, progress]
    server.run_tasks()
    assert sent == [record_a, progress, record_b], "the window still sends the rest, once"
