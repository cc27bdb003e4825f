"""Plain FFmpeg and ffprobe functions: no Celery, no Redis."""
