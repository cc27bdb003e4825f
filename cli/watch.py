"""``ffcluster watch``: turn every file that appears in a folder into one job, exactly once.

Changes come from watchfiles (inotify on Linux); a full rescan every ``--rescan`` seconds
is the safety net for what notifications miss (network filesystems, a watcher restart,
files dropped while it was stopped). Each ready file is looked up by its fingerprint
(``GET /api/jobs?idempotency_key=``) and uploaded (tus, resumable) only when no job has it;
with ``--output-dir`` the renditions of each finished job are downloaded beside where the
file would mirror. A file the API refuses is logged and not tried again by this process.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from pathlib import Path
from typing import Any

from watchfiles import watch

from cli.client import ApiClient, ApiError, default_url
from cli.errors import CliError
from cli.parser import job_fields
from cli.resumable import DEFAULT_STATE_FILE, ResumableUploader
from cli.watch_folder import (
    Settling,
    Tracked,
    candidates,
    fingerprint,
    is_candidate,
    output_folder,
)
from common.settings import Settings
from common.states import JOB_TERMINAL

log = logging.getLogger(__name__)

CHECK_EVERY_S = 1.0


class FolderWatcher:
    """One watch folder and the jobs its files became."""

    def __init__(self, args: argparse.Namespace, api: ApiClient) -> None:
        self.root: Path = args.folder.resolve()
        self.out: Path | None = args.output_dir
        self.fields = job_fields(args)
        self.api = api
        self.uploader = ResumableUploader(api, args.resume_file or DEFAULT_STATE_FILE,
                                          args.chunk_mb)
        self.settling = Settling(args.settle)
        self.rescan_s = args.rescan
        self.tracked: dict[str, Tracked] = {}
        self.refused: set[str] = set()
        self.handled: dict[Path, tuple[int, int]] = {}
        """Files this process already submitted or found known, as (size, mtime) then."""

    def _unchanged_since_handled(self, path: Path) -> bool:
        stat = path.stat()
        return self.handled.get(path) == (stat.st_size, stat.st_mtime_ns)

    def _submit(self, path: Path) -> None:
        if self._unchanged_since_handled(path):
            return
        stat = path.stat()
        key = fingerprint(path)
        if key in self.tracked or key in self.refused:
            return
        relative = path.relative_to(self.root)
        found = self.api.get_json("/api/jobs", params={"idempotency_key": key})["jobs"]
        try:
            job = found[0] if found else self.uploader.upload(
                path, {**self.fields, "idempotency_key": key})
        except ApiError as exc:
            log.error("%s was refused and will not be tried again: %s", relative, exc)
            self.refused.add(key)
            return
        log.info("%s: job %s (%s)", relative, job["id"], "known" if found else "submitted")
        self.tracked[key] = Tracked(path, relative, job["id"])
        self.handled[path] = (stat.st_size, stat.st_mtime_ns)

    def _collect(self, key: str, item: Tracked) -> bool:
        """Download a finished job's renditions; return True once nothing is left to do."""
        job: dict[str, Any] = self.api.get_json(f"/api/jobs/{item.job_id}")
        if job["state"] not in JOB_TERMINAL:
            return False
        if job["state"] != "done" or self.out is None:
            log.info("%s: job %s %s", item.relative, item.job_id, job["state"])
            return True
        folder = output_folder(self.out, item.relative)
        folder.mkdir(parents=True, exist_ok=True)
        for rendition in job["renditions"]:
            if rendition.get("output") and not (folder / rendition["output"]).exists():
                self._download(item.job_id, rendition["output"], folder / rendition["output"])
        log.info("%s: job %s done, outputs in %s", item.relative, item.job_id, folder)
        return True

    def _download(self, job_id: str, name: str, target: Path) -> None:
        partial = target.with_name(f".{target.name}.part")
        response = self.api.request("GET", f"/api/jobs/{job_id}/outputs/{name}", stream=True,
                                    timeout=None)
        with partial.open("wb") as out:
            for block in response.iter_content(1 << 20):
                out.write(block)
        partial.replace(target)

    def step(self, changed: set[Path], rescan: bool) -> None:
        """Look at what changed (everything on a rescan), submit what is ready, collect."""
        look = set(candidates(self.root)) if rescan else {
            p for p in changed if is_candidate(p, self.root) and p.is_file()}
        if rescan:
            log.debug("rescanned %s: %d files, %d settling", self.root, len(look),
                      len(self.settling.waiting))
        fresh = {p for p in look if p not in self.handled or not self._unchanged_since_handled(p)}
        try:
            for path in self.settling.look(fresh | set(self.settling.waiting)):
                self._submit(path)
            for key, item in list(self.tracked.items()):
                if self._collect(key, item):
                    del self.tracked[key]
        except CliError as exc:  # the web tier is away: everything is looked at again later
            log.warning("%s; trying again", exc)
        except FileNotFoundError:
            pass  # a file went away between being listed and being read

    def run(self, stop: threading.Event) -> None:
        self.step(set(), rescan=True)  # files dropped while no watcher ran
        last_scan = time.monotonic()
        for changes in watch(self.root, stop_event=stop, yield_on_timeout=True,
                             rust_timeout=int(CHECK_EVERY_S * 1000), recursive=True):
            rescan = time.monotonic() - last_scan >= self.rescan_s
            self.step({Path(p) for _, p in changes}, rescan)
            if rescan:
                last_scan = time.monotonic()


def run(args: argparse.Namespace, settings: Settings) -> int:
    if not args.folder.is_dir():
        raise CliError(f"{args.folder} is not a folder.")
    if args.chunk_mb < 1 or args.settle < 0 or args.rescan <= 0:
        raise CliError("--chunk-mb must be at least 1, --settle 0 or more, --rescan above 0.")
    api = ApiClient(args.url or default_url(settings), args.token or settings.api_token)
    watcher = FolderWatcher(args, api)
    log.info("watching %s (settle %.0f s, rescan every %.0f s)", watcher.root, args.settle,
             args.rescan)
    stop = threading.Event()
    try:
        watcher.run(stop)
    except KeyboardInterrupt:
        stop.set()
    return 0
