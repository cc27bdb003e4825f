"""Signed webhook delivery of job state changes."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any

import requests

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-FFcluster-Signature"
TIMESTAMP_HEADER = "X-FFcluster-Timestamp"
TIMEOUT_S = 10


def signed_content(body: bytes, timestamp: int) -> bytes:
    """What the signature covers: ``<unix seconds>.<body>``, so a replay cannot reuse it."""
    return f"{timestamp}.".encode() + body


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """Return the signature header value: ``sha256=`` and the HMAC-SHA256 of the content."""
    digest = hmac.new(secret.encode(), signed_content(body, timestamp), hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def deliver(url: str, secret: str | None, job: dict[str, Any], now: float | None = None) -> int:
    """POST the job; raise ``requests.RequestException`` on failure so the task retries.

    Each attempt is signed anew with its own timestamp: a receiver refuses a timestamp
    older than a few minutes, and so any replay of a captured delivery.
    """
    timestamp = int(time.time() if now is None else now)
    body = json.dumps({"event": "job", "job": job}, sort_keys=True).encode()
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(timestamp)}
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret, timestamp)
    response = requests.post(url, data=body, headers=headers, timeout=TIMEOUT_S)
    if response.status_code >= 500 or response.status_code == 429:
        raise requests.HTTPError(f"webhook answered {response.status_code}", response=response)
    log.info("webhook for job %s answered %s", job.get("id"), response.status_code)
    return response.status_code
