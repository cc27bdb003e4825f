"""Celery workers: thin tasks over plain, testable FFmpeg functions."""
