"""The Celery application factory for workers (Pallets' Celery example, without Flask)."""

from __future__ import annotations

from celery import Celery

from common.celery_config import celery_config
from common.settings import Settings
from workers.runtime.context import WorkerContext


def create_celery_app(settings: Settings) -> Celery:
    """Return a configured Celery app with ffcluster's tasks and worker hooks registered."""
    app = Celery("ffcluster", set_as_current=True)
    app.conf.update(celery_config(settings))
    app.ffcluster_context = WorkerContext(settings, producer=app)  # type: ignore[attr-defined]
    from workers.runtime import node, tasks  # noqa: F401  (registers tasks and signal handlers)

    return app
