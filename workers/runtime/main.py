"""Run a Celery worker for ffcluster (what `ffcluster worker` calls)."""

from __future__ import annotations

import os
import socket
import sys

from common.logs import configure_logging
from common.redis_client import connect
from common.redis_config import eviction_risk, log_eviction_risk
from common.settings import Settings, SettingsError
from common.storage import StorageUnavailable, open_storage
from common.tasknames import QUEUE_CPU
from workers.runtime.app import create_celery_app


def node_name(settings: Settings) -> str:
    """Return a Celery node name unique on this host: ``<name or ffcluster-pid>@<host>``."""
    prefix = settings.worker_name or f"ffcluster-{os.getpid()}"
    return prefix if "@" in prefix else f"{prefix}@{socket.gethostname()}"


def worker_argv(settings: Settings) -> list[str]:
    """Return Celery's worker arguments; the ``gpu`` queue is added after the encoder probe."""
    return [
        "worker", "--queues", QUEUE_CPU, "--concurrency", str(settings.concurrency),
        "--hostname", node_name(settings), "--loglevel", settings.log_level,
        "--pool", "prefork", "--without-gossip", "--without-mingle", "--task-events",
    ]


def run_worker(settings: Settings) -> None:
    """Check the storage, then block running a worker until it is told to stop."""
    configure_logging(settings.log_level)
    open_storage(settings).check()
    with connect(settings.effective_redis_url, retries=0) as client:
        log_eviction_risk(eviction_risk(client), "worker")
    app = create_celery_app(settings)
    app.worker_main(worker_argv(settings))


if __name__ == "__main__":
    try:
        run_worker(Settings.from_env())
    except (SettingsError, StorageUnavailable) as exc:
        sys.exit(f"ffcluster worker: {exc}")
