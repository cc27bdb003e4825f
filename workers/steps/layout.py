"""Where a job's files live on a worker: the source, rendition outputs, chunk files.

Every path a step opens is built here from the settings and names read from the job
record, and every such name is checked first: the record comes from Redis, and whoever
can write Redis must not be able to make a worker read, write or delete outside its
directories (:class:`UnsafeRecord`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from common.jobs import Job, Rendition, is_job_id, is_safe_name
from common.settings import Settings
from workers.ffmpeg.hls import HLS_DIR, MEDIA_PLAYLIST

CHUNK_DIR = ".chunks"
"""Per-job folder of encoded chunks; hidden (dot) so downloads never serve it."""
CHUNK_LIST = "chunks.ffconcat"
POSTER = "poster.jpg"


class UnsafeRecord(ValueError):
    """A job record names a path that would leave the data directory; the job is refused."""


def checked(value: object, what: str) -> str:
    """Return ``value`` if it is a plain file or profile name, else raise :class:`UnsafeRecord`."""
    if not is_safe_name(value):
        raise UnsafeRecord(f"The job record names an unusable {what} ({str(value)[:60]!r}); "
                           "the job was refused so that nothing outside the data directory "
                           "is touched.")
    return str(value)


def _job_id(job_id: str) -> str:
    if not is_job_id(job_id):
        raise UnsafeRecord(f"{str(job_id)[:60]!r} is not a job id.")
    return job_id


def job_dir(settings: Settings, job_id: str) -> Path:
    return settings.job_output_dir(_job_id(job_id))


def source_path(settings: Settings, job: Job) -> Path:
    return settings.uploads_dir / checked(job.source_file, "source file")


def output_name(profile: str) -> str:
    return f"{checked(profile, 'profile name')}.mp4"


def _checked_output(rendition: Rendition) -> str:
    """The rendition's output name, which must be the one the planner gives its profile."""
    expected = output_name(rendition.profile)
    if rendition.output != expected:
        raise UnsafeRecord(f"The job record names output {str(rendition.output)[:60]!r} for "
                           f"{rendition.profile}; the job was refused.")
    return expected


def output_path(settings: Settings, job_id: str, rendition: Rendition) -> Path:
    return job_dir(settings, job_id) / _checked_output(rendition)


def playlist_name(profile: str) -> str:
    """The media playlist's path in the job dir, as the record and the master name it."""
    return f"{HLS_DIR}/{checked(profile, 'profile name')}/{MEDIA_PLAYLIST}"


def hls_dir(settings: Settings, job_id: str) -> Path:
    return job_dir(settings, job_id) / HLS_DIR


def chunk_dir(settings: Settings, job_id: str, profile: str) -> Path:
    return job_dir(settings, job_id) / CHUNK_DIR / checked(profile, "profile name")


def chunk_file(settings: Settings, job_id: str, profile: str, index: int) -> Path:
    return chunk_dir(settings, job_id, profile) / f"{int(index):05d}.mp4"


def chunk_list_lines(count: int) -> list[str]:
    """The ffconcat list of a rendition's chunks (relative names, so ``safe`` stays on)."""
    return ["ffconcat version 1.0", *(f"file {i:05d}.mp4" for i in range(count))]


def write_chunk_list(directory: Path, count: int) -> Path:
    listing = directory / CHUNK_LIST
    listing.write_text("\n".join(chunk_list_lines(count)) + "\n")
    return listing


def remove_chunks(settings: Settings, job_id: str, profile: str) -> None:
    shutil.rmtree(chunk_dir(settings, job_id, profile), ignore_errors=True)


def check_job(job: Job) -> None:
    """Check every name of a job record that a step will join to a directory."""
    _job_id(job.id)
    checked(job.source_file, "source file")
    for rendition in job.renditions:
        checked(rendition.profile, "profile name")
        if rendition.output is not None:
            _checked_output(rendition)
