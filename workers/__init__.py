"""Celery workers, by role: ``ffmpeg/`` (plain FFmpeg functions), ``steps/`` (job steps over
the record), ``runtime/`` (the Celery worker process: app, tasks, heartbeat, leases)."""
