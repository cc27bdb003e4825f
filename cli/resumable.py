"""``ffcluster submit``'s uploads: tus through tuspy, resumed when the command runs again.

Each file's upload URL is remembered (tuspy's file storage, keyed by a fingerprint of the
file's content and size) until its job exists, so an upload cut by a dropped connection,
a killed process or a reboot continues from the server's offset the next time the same
file is submitted; one the server no longer knows (it expired) starts again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from tusclient import client as tus
from tusclient.exceptions import TusCommunicationError, TusUploadFailed
from tusclient.fingerprint.fingerprint import Fingerprint
from tusclient.storage.filestorage import FileStorage

from cli.client import ApiClient, ApiError
from cli.errors import CliError

log = logging.getLogger(__name__)

DEFAULT_STATE_FILE = Path.home() / ".cache" / "ffcluster" / "uploads.json"
JOB_ID_HEADER = "FFcluster-Job-Id"


def _failure(exc: TusCommunicationError) -> CliError:
    """The server's sentence (its JSON ``error``) for a refused tus request."""
    body = getattr(exc, "response_content", None) or b""
    try:
        sentence = str(json.loads(body)["error"])
    except (ValueError, KeyError, TypeError):
        sentence = str(exc)
    status = exc.status_code or 0
    return ApiError(f"The upload answered {status}: {sentence}", status)


class ResumableUploader:
    """Uploads one file at a time through ``/api/uploads``, remembering unfinished ones."""

    def __init__(self, api: ApiClient, state_file: Path = DEFAULT_STATE_FILE,
                 chunk_mb: int = 64) -> None:
        self.api = api
        self.chunk_bytes = chunk_mb * 1024 * 1024
        state_file.parent.mkdir(parents=True, exist_ok=True)
        self.storage = FileStorage(str(state_file))
        headers = {k: v for k, v in api.session.headers.items() if k == "Authorization"}
        self.client = tus.TusClient(f"{api.url}/api/uploads", headers=headers)

    def _uploader(self, path: Path, metadata: dict[str, str]) -> Any:
        options = {"chunk_size": self.chunk_bytes, "metadata": metadata, "store_url": True,
                   "url_storage": self.storage}
        try:
            return self.client.uploader(str(path), **options)
        except TusCommunicationError:  # the remembered upload is gone (expired): start over
            log.info("the server no longer knows the upload of %s; starting again", path)
            self.storage.remove_item(self.storage_key(path))
            return self.client.uploader(str(path), **options)

    def storage_key(self, path: Path) -> str:
        with path.open("rb") as stream:
            return str(Fingerprint().get_fingerprint(stream))

    def upload(self, path: Path, fields: dict[str, str],
               on_progress: Callable[[int], None] | None = None) -> dict[str, Any]:
        """Upload (or finish uploading) ``path``; return its job's JSON."""
        try:
            uploader = self._uploader(path, {"filename": path.name, **fields})
            if uploader.offset:
                log.info("resuming the upload of %s at byte %d", path, uploader.offset)
            while uploader.offset < uploader.stop_at:
                if on_progress is not None:
                    on_progress(uploader.offset)
                uploader.upload_chunk()
            url = uploader.url
        except (TusCommunicationError, TusUploadFailed) as exc:
            raise _failure(exc) from None
        except requests.ConnectionError:
            raise CliError(f"Cannot reach the web tier at {self.api.url}; run the same "
                           "command again to resume the upload.") from None
        if on_progress is not None:
            on_progress(uploader.stop_at)
        head = self.api.request("HEAD", url.removeprefix(self.api.url),
                                headers={"Tus-Resumable": "1.0.0"})
        job_id = head.headers.get(JOB_ID_HEADER)
        if not job_id:
            raise CliError(f"The upload of {path} ended without a job; run it again.")
        self.storage.remove_item(self.storage_key(path))
        return dict(self.api.get_json(f"/api/jobs/{job_id}"))
