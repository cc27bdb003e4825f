"""The app factory: build a Flask app for one set of settings, bind extensions, add routes."""

from __future__ import annotations

import logging
import secrets

import redis
import socketio as socketio_lib
from celery import Celery
from flask import Flask

from common import keys
from common.celery_config import celery_config
from common.ladder import load_ladder
from common.redis_client import connect
from common.redis_config import EvictionWatch, log_eviction_risk
from common.settings import Settings
from common.storage import open_storage
from common.store import JobStore
from web import api, dashboard, metrics, security, tus
from web import sockets as _sockets  # noqa: F401  (registers the Socket.IO handlers)
from web.context import EXTENSION_KEY, TaskProducer, WebContext
from web.errors import register_error_handlers
from web.extensions import socketio
from web.fanout import CoalescingRedisManager

log = logging.getLogger(__name__)

HEALTH_TIMEOUT_S = 0.5
REDIS_SPARE_CONNECTIONS = 16
"""Beyond one per served connection: the broadcaster, the Socket.IO listener, start-up checks."""


def make_producer(settings: Settings) -> Celery:
    """Return a Celery app used only to send tasks by name (no result backend)."""
    producer = Celery("ffcluster", set_as_current=False)
    producer.conf.update(celery_config(settings))
    return producer


def redis_pool_size(settings: Settings) -> int:
    """Connections each of the web tier's Redis pools may open: one per request or Socket.IO
    handler served at once (``web_threads``), plus the background threads'."""
    return settings.web_threads + REDIS_SPARE_CONNECTIONS


def _health_client(settings: Settings) -> redis.Redis:
    """Return a client that fails within half a second and never retries: health must be fast."""
    return connect(settings.effective_redis_url, connect_timeout_s=HEALTH_TIMEOUT_S,
                   timeout_s=HEALTH_TIMEOUT_S, retries=0,
                   max_connections=redis_pool_size(settings))


def create_app(
    settings: Settings,
    *,
    redis_client: redis.Redis | None = None,
    producer: TaskProducer | None = None,
    message_queue: bool = True,
) -> Flask:
    """Build the web tier for ``settings``.

    ``redis_client`` and ``producer`` replace the real Redis connection and Celery producer
    (tests pass fakeredis and a recorder); ``message_queue=False`` keeps Socket.IO in this
    process only, for tests without a Redis server.
    """
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key or secrets.token_hex(32),
        JSON_SORT_KEYS=False,
        MAX_FORM_MEMORY_SIZE=64 * 1024,
    )
    client = redis_client if redis_client is not None else connect(
        settings.effective_redis_url, max_connections=redis_pool_size(settings))
    health_redis = redis_client if redis_client is not None else _health_client(settings)
    context = WebContext(
        settings=settings,
        redis=client,
        health_redis=health_redis,
        store=JobStore(client),
        storage=open_storage(settings),
        producer=producer if producer is not None else make_producer(settings),
        ladder=load_ladder(settings.profiles_file),
        redis_eviction=EvictionWatch(health_redis),
    )
    app.extensions[EXTENSION_KEY] = context
    app.extensions["ffcluster.store"] = context.store
    app.extensions["ffcluster.redis"] = client
    app.extensions["ffcluster.celery"] = context.producer
    context.storage.check()  # at start-up, never on a request: a sentence if it is unusable
    log_eviction_risk(context.redis_eviction.warning(), "web tier")  # health reuses it

    options: dict[str, object] = {
        "async_mode": settings.async_mode,
        "logger": False,
        "engineio_logger": False,
    }
    if message_queue:  # built here: Flask-SocketIO would take redis+sentinel:// for Kombu
        options.update(client_manager=CoalescingRedisManager(
            settings.effective_redis_url, channel=keys.SOCKETIO_CHANNEL,
            redis_options={"max_connections": redis_pool_size(settings)}))
    else:
        options.update(message_queue=None, client_manager=socketio_lib.Manager())
    socketio.init_app(app, **options)

    security.install(app, settings)
    register_error_handlers(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(tus.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(dashboard.bp)
    log.info("web app ready (async_mode=%s, redis=%s)", settings.async_mode,
             "injected" if redis_client is not None else "url")
    return app
