"""``ffcluster submit``: upload videos through the REST API and optionally follow them."""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TransferSpeedColumn,
)

from cli.client import ApiClient, ApiError, default_url
from cli.errors import CliError
from cli.parser import job_fields
from cli.resumable import DEFAULT_STATE_FILE, ResumableUploader
from common.settings import Settings
from common.states import JOB_TERMINAL, JobState

log = logging.getLogger(__name__)

POLL_S = 0.5


def _upload(uploader: ResumableUploader, path: Path, fields: dict[str, str],
            err: Console) -> dict[str, Any]:
    columns = (TextColumn("upload {task.description}"), BarColumn(), DownloadColumn(),
               TransferSpeedColumn())
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task(path.name, total=path.stat().st_size)
        return uploader.upload(path, fields, lambda n: progress.update(task, completed=n))


def _detail(rendition: dict[str, Any]) -> str:
    state = rendition.get("state", "")
    parts = [state]
    if state == "encoding":
        if rendition.get("fps") is not None:
            parts.append(f"{rendition['fps']:.0f} fps")
        if rendition.get("speed") is not None:
            parts.append(f"{rendition['speed']:.2f}x")
        if rendition.get("eta_s") is not None:
            parts.append(f"ETA {rendition['eta_s']:.0f} s")
    if rendition.get("codec"):
        parts.append(str(rendition["codec"]))
    if rendition.get("fallbacks"):
        parts.append("fallback from " + ", ".join(f["codec"] for f in rendition["fallbacks"]))
    return " · ".join(parts)


class JobBars:
    """One progress row per job and per rendition, updated from the job JSON."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.rows: dict[tuple[str, str], TaskID] = {}

    def _row(self, key: tuple[str, str], label: str) -> TaskID:
        if key not in self.rows:
            self.rows[key] = self.progress.add_task(label, total=100, detail="")
        return self.rows[key]

    def update(self, job: dict[str, Any]) -> None:
        row = self._row((job["id"], ""), f"{job['source_name']} [{job['id']}]")
        self.progress.update(row, completed=job.get("percent", 0.0), detail=job["state"])
        for rendition in job.get("renditions", []):
            sub = self._row((job["id"], rendition["profile"]), f"  {rendition['profile']}")
            self.progress.update(sub, completed=rendition.get("percent", 0.0),
                                 detail=_detail(rendition))


def wait_for_jobs(client: ApiClient, jobs: list[dict[str, Any]], err: Console
                  ) -> list[dict[str, Any]]:
    """Poll every job about twice a second until each is terminal; return the final JSON."""
    latest = {job["id"]: job for job in jobs}
    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.percentage:>5.1f}%"), TextColumn("{task.fields[detail]}"))
    with Progress(*columns, console=err) as progress:
        bars = JobBars(progress)
        unreachable_since: float | None = None
        while pending := [i for i, j in latest.items() if j["state"] not in JOB_TERMINAL]:
            for job_id in pending:
                try:
                    latest[job_id] = client.get_json(f"/api/jobs/{job_id}")
                except ApiError as exc:
                    if exc.status < 500:
                        raise
                    unreachable_since = unreachable_since or time.monotonic()
                except CliError:  # the web tier is restarting or unreachable: keep trying
                    if unreachable_since is None:
                        unreachable_since = time.monotonic()
                        log.warning("the web tier does not answer; still trying")
                else:
                    unreachable_since = None
                bars.update(latest[job_id])
            time.sleep(POLL_S)
        for job in latest.values():
            bars.update(job)
    return [latest[job["id"]] for job in jobs]


def _failure(job: dict[str, Any]) -> str:
    reasons = [job.get("error")] + [
        f"{r['profile']}: {r['error']}" for r in job.get("renditions", []) if r.get("error")
    ]
    text = "; ".join(r for r in reasons if r)
    return text or f"the job ended {job['state']}"


SOURCE_URL_SCHEMES = ("https://", "http://", "s3://")


def is_source_url(source: str) -> bool:
    return source.lower().startswith(SOURCE_URL_SCHEMES)


def run(args: argparse.Namespace, settings: Settings) -> int:
    missing = [f for f in args.files if not is_source_url(f) and not Path(f).is_file()]
    if missing:
        raise CliError(f"No such file: {', '.join(missing)}.")
    if args.chunk_mb < 1:
        raise CliError("--chunk-mb must be at least 1.")
    client = ApiClient(args.url or default_url(settings), args.token or settings.api_token)
    err, out = Console(stderr=True), Console(highlight=False)
    fields = job_fields(args)
    uploader = ResumableUploader(client, args.resume_file or DEFAULT_STATE_FILE, args.chunk_mb)
    jobs = []
    for source in args.files:
        if is_source_url(source):
            job = client.submit_url(source, fields)
        else:
            job = _upload(uploader, Path(source), fields, err)
        jobs.append(job)
        if not args.json:
            out.print(f"{source}: job {job['id']} {job['state']}")
    if args.wait:
        jobs = wait_for_jobs(client, jobs, err)
    if args.json:
        print(json.dumps(jobs[0] if len(jobs) == 1 else jobs, indent=2))
    failed = [job for job in jobs if job["state"] in (JobState.FAILED, JobState.CANCELED)]
    if args.wait and not args.json:
        for job in jobs:
            if job not in failed:
                outputs = ", ".join(r["profile"] for r in job.get("renditions", []))
                out.print(f"{job['source_name']}: job {job['id']} done ({outputs})")
    for job in failed:
        err.print(f"{job['source_name']}: job {job['id']} {job['state']}: {_failure(job)}",
                  markup=False, highlight=False)
    return 1 if failed else 0
