"""Socket.IO handlers: auth on connect, the dashboard and per-job rooms, resync on demand."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import request
from flask_socketio import emit, join_room, leave_room

from common.events import DASHBOARD_ROOM, job_event, job_room, workers_event
from common.jobs import is_job_id
from common.registry import list_workers
from web.auth import socket_token, token_matches
from web.context import web_context
from web.extensions import socketio
from web.security import host_allowed

log = logging.getLogger(__name__)

RESYNC_LIMIT = 100


def _job_id(data: Any) -> str | None:
    value = data.get("job_id") if isinstance(data, dict) else data
    return value if is_job_id(value) else None


@socketio.on("connect")
def on_connect(auth: Any = None) -> None:
    """Refuse clients without the token; put the rest in the dashboard room."""
    ctx = web_context()
    if not host_allowed(ctx.settings, request.host):
        raise ConnectionRefusedError("unknown host")
    if not token_matches(ctx.settings.api_token, socket_token(auth)):
        raise ConnectionRefusedError("unauthorized")
    join_room(DASHBOARD_ROOM)
    try:
        workers = [w.to_dict() for w in list_workers(ctx.redis)]
    except Exception:  # the connection stands even if Redis blips; the poller resends
        log.warning("could not read workers for a new client", exc_info=True)
        return
    emit("workers", workers_event(workers).payload())


@socketio.on("ping")
def on_ping(data: Any = None) -> dict[str, Any]:
    """Acknowledge at once with the server time (latency checks; touches no Redis)."""
    return {"ok": True, "ts": time.time()}


@socketio.on("subscribe")
def on_subscribe(data: Any) -> dict[str, Any]:
    """Join ``job:<id>`` and send the job as recorded now, so a missed event never sticks."""
    job_id = _job_id(data)
    if job_id is None:
        return {"ok": False, "error": "Send {\"job_id\": \"<id>\"}."}
    job = web_context().store.get(job_id)
    if job is None:
        return {"ok": False, "error": f"No job has the id {job_id!r}."}
    join_room(job_room(job_id))
    emit("job", job_event(job).payload())
    return {"ok": True}


@socketio.on("unsubscribe")
def on_unsubscribe(data: Any) -> dict[str, Any]:
    job_id = _job_id(data)
    if job_id is None:
        return {"ok": False, "error": "Send {\"job_id\": \"<id>\"}."}
    leave_room(job_room(job_id))
    return {"ok": True}


@socketio.on("resync")
def on_resync(data: Any = None) -> dict[str, Any]:
    """Send every recent job as a ``job`` event to the asking client."""
    jobs, total = web_context().store.list(offset=0, limit=RESYNC_LIMIT)
    for job in jobs:
        emit("job", job_event(job).payload())
    return {"ok": True, "jobs": len(jobs), "total": total}
