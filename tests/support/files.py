"""Where a test finds a cluster's files in ``local`` storage (the data directory's tree)."""

from __future__ import annotations

from pathlib import Path

from common.settings import Settings
from common.storage import OUTPUTS, UPLOADS, LocalStorage, output_key


def uploads_dir(settings: Settings) -> Path:
    return LocalStorage(settings.data_dir).path(UPLOADS)


def outputs_dir(settings: Settings) -> Path:
    return LocalStorage(settings.data_dir).path(OUTPUTS)


def job_dir(settings: Settings, job_id: str) -> Path:
    return LocalStorage(settings.data_dir).path(output_key(job_id))
