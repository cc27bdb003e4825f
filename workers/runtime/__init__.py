"""The worker process: Celery app and tasks, start-up and heartbeat, reaper, leases, progress."""
