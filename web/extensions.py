"""Flask extensions, created unbound and bound to an app in :func:`web.app.create_app`."""

from __future__ import annotations

from flask_socketio import SocketIO

socketio = SocketIO()
