"""``ffcluster web``: serve the web tier; the only place that monkey-patches with eventlet."""

from __future__ import annotations

import argparse

from common.settings import Settings
from common.storage import open_storage


def run(args: argparse.Namespace, settings: Settings) -> int:
    settings = settings.with_overrides(host=args.host, port=args.port, async_mode=args.async_mode)
    if settings.async_mode == "eventlet":
        import eventlet

        eventlet.monkey_patch()
    from common.logs import configure_logging

    configure_logging(settings.log_level)
    open_storage(settings).check()  # after patching: the S3 client's sockets are green too
    from web.server import serve

    serve(settings)
    return 0
