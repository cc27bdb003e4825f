"""Signed webhook delivery of job state changes."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

import requests

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-FFcluster-Signature"
TIMEOUT_S = 10


def sign(body: bytes, secret: str) -> str:
    """Return the signature header value: ``sha256=`` and the HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(url: str, secret: str | None, job: dict[str, Any]) -> int:
    """POST the job; raise ``requests.RequestException`` on failure so the task retries."""
    body = json.dumps({"event": "job", "job": job}, sort_keys=True).encode()
    headers = {"Content-Type": "application/json"}
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret)
    response = requests.post(url, data=body, headers=headers, timeout=TIMEOUT_S)
    if response.status_code >= 500 or response.status_code == 429:
        raise requests.HTTPError(f"webhook answered {response.status_code}", response=response)
    log.info("webhook for job %s answered %s", job.get("id"), response.status_code)
    return response.status_code
