"""Stream a source from ``s3://bucket/key`` with the cluster's own S3 client and credentials."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from workers.ingest.fetch import READ_BYTES, IngestFailed, Limits, Progress, Sink, _mib
from workers.ingest.guard import IngestRefused


def bucket_and_key(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    key = unquote(parts.path.lstrip("/"))
    if parts.scheme != "s3" or not parts.netloc or not key:
        raise IngestRefused("An s3:// source URL must name a bucket and a key "
                            "(s3://bucket/path/to/file.mp4).")
    return parts.netloc, key


def fetch_object(client: Any, url: str, sink: Sink, limits: Limits, progress: Progress) -> int:
    """Copy the object at ``url`` into ``sink``; return its bytes."""
    bucket, key = bucket_and_key(url)
    try:
        reply = client.get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise IngestFailed(f"The object {url} could not be read ({code}).") from None
    except BotoCoreError as exc:
        raise IngestFailed(f"The object store could not be reached for {url} ({exc}).") from None
    total, received = int(reply.get("ContentLength") or 0), 0
    if total > limits.max_bytes:
        raise IngestRefused(f"The source is {_mib(total)}; the largest accepted is "
                            f"{_mib(limits.max_bytes)}.")
    try:
        for block in _blocks(reply["Body"], url):
            received += len(block)
            if time.monotonic() > limits.deadline:
                raise IngestFailed("The source was not fetched in time; see "
                                   "FFCLUSTER_INGEST_TIMEOUT_S.")
            sink(block)
            progress(received, total)
    finally:
        reply["Body"].close()
    return received


def _blocks(body: Any, url: str) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(READ_BYTES)
    except (BotoCoreError, OSError) as exc:
        raise IngestFailed(f"Reading {url} failed ({exc}).") from None
