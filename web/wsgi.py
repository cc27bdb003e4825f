"""WSGI entry for a process manager: ``gunicorn -w 1 --threads 100 'web.wsgi:application()'``.

Run one worker per process (Socket.IO keeps per-process state); for eventlet use
``-k eventlet``, which monkey-patches before this module is imported.
"""

from __future__ import annotations

from flask import Flask

from common.logs import configure_logging
from common.settings import Settings
from web.app import create_app
from web.broadcast import start_background_tasks


def application() -> Flask:
    """Build the app from ``FFCLUSTER_*`` variables and start its background task."""
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    app = create_app(settings)
    start_background_tasks(app)
    return app
