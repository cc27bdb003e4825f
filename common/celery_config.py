"""Celery configuration shared by the workers' app and the web tier's producer."""

from __future__ import annotations

from typing import Any

from kombu import Exchange, Queue

from common import tasknames
from common.settings import Settings


def celery_config(settings: Settings) -> dict[str, Any]:
    """Return the Celery settings both sides must agree on (JSON only, explicit queues)."""
    url = settings.effective_redis_url
    return {
        "broker_url": url,
        "result_backend": None,
        "task_ignore_result": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_queues": [Queue(name, Exchange(name, type="direct"), routing_key=name)
                        for name in tasknames.QUEUES],
        "task_default_queue": tasknames.QUEUE_CPU,
        "task_create_missing_queues": False,
        "task_routes": {
            tasknames.PROBE_JOB: {"queue": tasknames.QUEUE_CPU},
            tasknames.FINALIZE_JOB: {"queue": tasknames.QUEUE_CPU},
            tasknames.SEND_WEBHOOK: {"queue": tasknames.QUEUE_CPU},
        },
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            "visibility_timeout": settings.visibility_timeout_s,
            "socket_connect_timeout": 5,
            "socket_keepalive": True,
            "retry_on_timeout": True,
        },
        "task_time_limit": settings.task_time_limit_s + 60,
        "task_soft_time_limit": settings.task_time_limit_s,
        "worker_hijack_root_logger": False,
        "enable_utc": True,
    }
