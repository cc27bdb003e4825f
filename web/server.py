"""Serve the web tier: gunicorn's threaded worker, or eventlet's server (patched by the caller).

Threading mode runs under gunicorn with one ``gthread`` worker (Flask-SocketIO's documented
deployment for threading: Socket.IO state lives in one process, each client holds a thread),
with a fixed thread pool and connection limit instead of Werkzeug's development server,
which starts a thread per connection without bound.
"""

from __future__ import annotations

import ctypes
import logging
import re
import signal
import sys
from collections.abc import Callable
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from common.settings import Settings
from web.app import create_app
from web.broadcast import start_background_tasks
from web.extensions import socketio

log = logging.getLogger(__name__)

_TOKEN_IN_URL = re.compile(r"([?&]token=)[^&\s\"]*")
LISTEN_BACKLOG = 512
SPARE_CONNECTIONS = 64
"""Connections accepted beyond the thread pool, waiting (parked) for a free thread."""
GRACEFUL_S = 3
"""Seconds a stopping web tier gives requests in flight; Socket.IO clients never end
theirs, and reconnect (to another process, or this one restarted) on their own."""
PR_SET_PDEATHSIG = 1


class RedactTokens(logging.Filter):
    """Blank ``token=`` query values in access-log lines: download links carry the API token."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _TOKEN_IN_URL.sub(r"\1[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def _redact_access_logs() -> None:
    for name in ("werkzeug", "gunicorn.access"):
        access = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in access.filters):
            access.addFilter(RedactTokens())


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    """The gunicorn settings of the threaded web tier (one process, bounded threads)."""
    return {
        "bind": f"[{settings.host}]:{settings.port}" if ":" in settings.host
        else f"{settings.host}:{settings.port}",
        "workers": 1, "worker_class": "gthread", "threads": settings.web_threads,
        "worker_connections": settings.web_threads + SPARE_CONNECTIONS,
        "backlog": LISTEN_BACKLOG, "keepalive": 5, "timeout": 60,
        "graceful_timeout": GRACEFUL_S, "post_fork": _die_with_the_arbiter,
        "accesslog": None, "errorlog": "-", "loglevel": settings.log_level.lower(),
        "limit_request_line": 8190, "limit_request_fields": 100,
        "proc_name": "ffcluster-web", "preload_app": False, "control_socket_disable": True,
    }


def _die_with_the_arbiter(_server: Any, _worker: Any) -> None:
    """Run in the forked worker: if the arbiter is killed outright, the worker goes too."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class ThreadedServer(BaseApplication):  # type: ignore[misc]
    """gunicorn run in-process; the app is built in its worker, after the fork."""

    def __init__(self, factory: Callable[[], Flask], options: dict[str, Any]) -> None:
        self.factory, self.options = factory, options
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.options.items():
            if name in self.cfg.settings:  # e.g. control_socket_disable is new in 24
                self.cfg.set(name, value)

    def load(self) -> Flask:
        return self.factory()


def _app_with_tasks(settings: Settings) -> Flask:
    app = create_app(settings)
    start_background_tasks(app)
    return app


def serve(settings: Settings) -> None:
    """Block serving HTTP and Socket.IO on ``settings.host:settings.port``."""
    _redact_access_logs()
    log.info("serving on http://%s:%d (%s)", settings.host, settings.port, settings.async_mode)
    if settings.async_mode == "threading":
        ThreadedServer(lambda: _app_with_tasks(settings), gunicorn_options(settings)).run()
        return
    app = _app_with_tasks(settings)
    socketio.run(app, host=settings.host, port=settings.port, use_reloader=False, debug=False,
                 log_output=False, max_size=settings.web_threads)
