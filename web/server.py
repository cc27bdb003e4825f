"""Serve the web tier in the configured async mode (the caller monkey-patches for eventlet)."""

from __future__ import annotations

import logging
import re
from typing import Any

from common.settings import Settings
from web.app import create_app
from web.broadcast import start_background_tasks
from web.extensions import socketio

log = logging.getLogger(__name__)

_TOKEN_IN_URL = re.compile(r"([?&]token=)[^&\s\"]*")


class RedactTokens(logging.Filter):
    """Blank ``token=`` query values in access-log lines: download links carry the API token."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _TOKEN_IN_URL.sub(r"\1[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def _redact_access_log() -> None:
    """Werkzeug logs every request line (threading mode) on its own ``werkzeug`` logger."""
    access = logging.getLogger("werkzeug")
    if not any(isinstance(f, RedactTokens) for f in access.filters):
        access.addFilter(RedactTokens())


def serve(settings: Settings) -> None:
    """Block serving HTTP and Socket.IO on ``settings.host:settings.port``."""
    app = create_app(settings)
    start_background_tasks(app)
    options: dict[str, Any] = {"use_reloader": False, "debug": False, "log_output": False}
    if settings.async_mode == "threading":
        options["allow_unsafe_werkzeug"] = True
        _redact_access_log()
    log.info("serving on http://%s:%d (%s)", settings.host, settings.port, settings.async_mode)
    socketio.run(app, host=settings.host, port=settings.port, **options)
