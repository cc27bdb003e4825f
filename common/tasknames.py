"""Celery task and queue names, so the web tier enqueues by name without importing workers."""

from __future__ import annotations

INGEST_SOURCE = "ffcluster.ingest_source"
"""Fetch a job's source from its URL into storage, then send the probe."""
PROBE_JOB = "ffcluster.probe_job"
ANALYZE_LADDER = "ffcluster.analyze_ladder"
"""Sample a per-title job's source and choose each rung's bitrate, then send the encodes."""
ENCODE_RENDITION = "ffcluster.encode_rendition"
ENCODE_RENDITIONS = "ffcluster.encode_renditions"
"""Several renditions of one job fused into one FFmpeg (one decode)."""
ENCODE_CHUNK = "ffcluster.encode_chunk"
"""One time slice of every chunked rendition of a job (split-and-stitch)."""
ENCODE_AUDIO = "ffcluster.encode_audio"
"""A chunked job's audio, encoded once while its video slices run (split-and-stitch)."""
STITCH_RENDITION = "ffcluster.stitch_rendition"
"""Join a rendition's encoded chunks and its audio track with stream copy."""
FINALIZE_JOB = "ffcluster.finalize_job"
SEND_WEBHOOK = "ffcluster.send_webhook"

QUEUE_CPU = "cpu"
QUEUE_GPU = "gpu"
QUEUES = (QUEUE_CPU, QUEUE_GPU)
