"""The REST calls the benchmark makes as a user would: submit, read, cancel, wait."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from cli.client import MultipartFile

TERMINAL = ("done", "failed", "canceled")
IDEMPOTENT_RETRIES = Retry(total=3, connect=3, read=3, status=0, backoff_factor=0.1,
                           allowed_methods=frozenset({"GET", "HEAD", "DELETE"}))
"""A kept-alive connection the server closes (gunicorn's 5 s keep-alive) just as a request
reuses it is reset; reads and cancels are sent again, a POST never is (it gets a fresh one)."""
TIMED_POLL_S = 1.0
"""How often a timed job (ladder pairs, per-title) is read while it runs: its figures come
from its record's timestamps, so a slower poll changes none of them and keeps the bench's
own requests off the cores the job is timed on."""


class ApiClient:
    """A small client of one web tier's REST API."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.mount("http://", HTTPAdapter(max_retries=IDEMPOTENT_RETRIES))

    def submit(self, path: Path, fields: dict[str, str] | None = None) -> tuple[str, float]:
        """POST ``path`` as a job with form ``fields``; return (job id, time just before).

        The body is read from disk as it is sent, as ``ffcluster submit`` and a browser send
        it (not built whole in memory first, which cost about 0.6 s for 130 MB here)."""
        self.session.close()  # a fresh connection: a POST that meets a closed one is lost
        with MultipartFile(path, fields or {}) as body:
            posted_at = time.time()
            response = self.session.post(f"{self.base_url}/api/jobs", data=body,
                                         headers={"Content-Type": body.content_type},
                                         timeout=120)
        response.raise_for_status()
        return str(response.json()["id"]), posted_at

    def job(self, job_id: str) -> dict[str, Any]:
        response = self.session.get(f"{self.base_url}/api/jobs/{job_id}", timeout=10)
        response.raise_for_status()
        return dict(response.json())

    def jobs(self, limit: int = 200) -> list[dict[str, Any]]:
        response = self.session.get(f"{self.base_url}/api/jobs", params={"limit": limit},
                                    timeout=10)
        response.raise_for_status()
        return list(response.json()["jobs"])

    def cancel(self, job_id: str) -> None:
        self.session.delete(f"{self.base_url}/api/jobs/{job_id}", timeout=10)

    def wait(self, job_id: str, timeout_s: float, poll_s: float = 0.25) -> dict[str, Any]:
        """Poll the job until it is terminal; raise TimeoutError after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if job["state"] in TERMINAL:
                return job
            time.sleep(poll_s)
        raise TimeoutError(f"job {job_id} did not end within {timeout_s:.0f} s")

    def wait_encoding(self, job_id: str, timeout_s: float) -> dict[str, Any]:
        """Poll until an FFmpeg of the job has started (a rendition is encoding) or it ended."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if job["state"] in TERMINAL or any(
                    r["state"] == "encoding" for r in job.get("renditions", [])):
                return job
            time.sleep(0.1)
        raise TimeoutError(f"job {job_id} did not start encoding within {timeout_s:.0f} s")


def first_start(job: dict[str, Any]) -> float | None:
    """Return the earliest rendition ``started_at`` of a job record."""
    starts = [r["started_at"] for r in job.get("renditions", []) if r.get("started_at")]
    return min(starts) if starts else None
