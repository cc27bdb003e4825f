"""Serve the web tier in the configured async mode (the caller monkey-patches for eventlet)."""

from __future__ import annotations

import logging
from typing import Any

from common.settings import Settings
from web.app import create_app
from web.broadcast import start_background_tasks
from web.extensions import socketio

log = logging.getLogger(__name__)


def serve(settings: Settings) -> None:
    """Block serving HTTP and Socket.IO on ``settings.host:settings.port``."""
    app = create_app(settings)
    start_background_tasks(app)
    options: dict[str, Any] = {"use_reloader": False, "debug": False, "log_output": False}
    if settings.async_mode == "threading":
        options["allow_unsafe_werkzeug"] = True
    log.info("serving on http://%s:%d (%s)", settings.host, settings.port, settings.async_mode)
    socketio.run(app, host=settings.host, port=settings.port, **options)
