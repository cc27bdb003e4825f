"""Where a job's files live on a worker: the source, rendition outputs, chunk files.

Every path a step opens is built here from the settings and names read from the job
record; nothing else joins directories to record fields.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from common.jobs import Job, Rendition
from common.settings import Settings

CHUNK_DIR = ".chunks"
"""Per-job folder of encoded chunks; hidden (dot) so downloads never serve it."""
CHUNK_LIST = "chunks.ffconcat"


def source_path(settings: Settings, job: Job) -> Path:
    return settings.uploads_dir / job.source_file


def job_dir(settings: Settings, job_id: str) -> Path:
    return settings.job_output_dir(job_id)


def output_path(settings: Settings, job_id: str, rendition: Rendition) -> Path:
    return job_dir(settings, job_id) / str(rendition.output)


def chunk_dir(settings: Settings, job_id: str, profile: str) -> Path:
    return job_dir(settings, job_id) / CHUNK_DIR / profile


def chunk_file(settings: Settings, job_id: str, profile: str, index: int) -> Path:
    return chunk_dir(settings, job_id, profile) / f"{index:05d}.mp4"


def chunk_list_lines(count: int) -> list[str]:
    """The ffconcat list of a rendition's chunks (relative names, so ``safe`` stays on)."""
    return ["ffconcat version 1.0", *(f"file {i:05d}.mp4" for i in range(count))]


def write_chunk_list(directory: Path, count: int) -> Path:
    listing = directory / CHUNK_LIST
    listing.write_text("\n".join(chunk_list_lines(count)) + "\n")
    return listing


def remove_chunks(settings: Settings, job_id: str, profile: str) -> None:
    shutil.rmtree(chunk_dir(settings, job_id, profile), ignore_errors=True)
