"""Celery configuration shared by the workers' app and the web tier's producer."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from kombu import Exchange, Queue

from common import tasknames
from common.redis_client import sentinel_target
from common.settings import Settings


def broker(url: str) -> tuple[str, dict[str, Any]]:
    """Celery's broker URL and extra transport options for ``FFCLUSTER_REDIS_URL``.

    A Sentinel URL becomes kombu's ``sentinel://`` transport (one URL per Sentinel, joined
    with ``;``) with the service as ``master_name``.
    """
    target = sentinel_target(url)
    if target is None:
        return url, {}
    auth = ""
    if target.password:
        auth = f"{quote(target.username or '', safe='')}:{quote(target.password, safe='')}@"
    urls = ";".join(f"sentinel://{auth}{host}:{port}/{target.db}"
                    for host, port in target.sentinels)
    return urls, {"master_name": target.service,
                  "sentinel_kwargs": {"socket_connect_timeout": 5, "socket_timeout": 10}}


def celery_config(settings: Settings) -> dict[str, Any]:
    """Return the Celery settings both sides must agree on (JSON only, explicit queues)."""
    url, sentinel_options = broker(settings.effective_redis_url)
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
            tasknames.ANALYZE_LADDER: {"queue": tasknames.QUEUE_CPU},
            tasknames.ENCODE_AUDIO: {"queue": tasknames.QUEUE_CPU},
            tasknames.INGEST_SOURCE: {"queue": tasknames.QUEUE_CPU},
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
            **sentinel_options,
        },
        "task_time_limit": settings.task_time_limit_s + 60,
        "task_soft_time_limit": settings.task_time_limit_s,
        "worker_hijack_root_logger": False,
        "enable_utc": True,
    }
