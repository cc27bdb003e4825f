"""Where a job's files are kept: the storage keys of its source, outputs and chunk files.

Every key a step reads or writes is built here from names read from the job record, and
every such name is checked first: the record comes from Redis, and whoever can write
Redis must not be able to make a worker read, write or delete outside the job's files
(:class:`UnsafeRecord`). Steps turn keys into local files through their workspace.
"""

from __future__ import annotations

from common.jobs import Job, Rendition, is_job_id, is_safe_name
from common.storage import output_key, upload_key
from workers.ffmpeg.hls import HLS_DIR, MEDIA_PLAYLIST

CHUNK_DIR = ".chunks"
"""Per-job folder of encoded chunks; hidden (dot) so downloads never serve it."""
CHUNK_LIST = "chunks.ffconcat"
AUDIO_DIR = ".audio"
"""Per-job folder of a chunked job's audio tracks, one per bitrate; hidden like the chunks."""
POSTER = "poster.jpg"


class UnsafeRecord(ValueError):
    """A job record names a path that would leave the job's files; the job is refused."""


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


def job_key(job_id: str, name: str = "") -> str:
    """The key of the job's output folder, or of ``name`` in it."""
    return output_key(_job_id(job_id), name)


def source_key(job: Job) -> str:
    return upload_key(checked(job.source_file, "source file"))


def output_name(profile: str) -> str:
    return f"{checked(profile, 'profile name')}.mp4"


def _checked_output(rendition: Rendition) -> str:
    """The rendition's output name, which must be the one the planner gives its profile."""
    expected = output_name(rendition.profile)
    if rendition.output != expected:
        raise UnsafeRecord(f"The job record names output {str(rendition.output)[:60]!r} for "
                           f"{rendition.profile}; the job was refused.")
    return expected


def mp4_key(job_id: str, profile: str) -> str:
    """The key a rendition's MP4 is encoded to."""
    return job_key(job_id, output_name(profile))


def rendition_key(job_id: str, rendition: Rendition) -> str:
    """The key of a finished rendition's MP4, as its record names it."""
    return job_key(job_id, _checked_output(rendition))


def playlist_name(profile: str) -> str:
    """The media playlist's path in the job's folder, as the record and the master name it."""
    return f"{HLS_DIR}/{checked(profile, 'profile name')}/{MEDIA_PLAYLIST}"


def hls_key(job_id: str, profile: str | None = None) -> str:
    """The key of the job's HLS folder, or of one rendition's segments in it."""
    name = HLS_DIR if profile is None else f"{HLS_DIR}/{checked(profile, 'profile name')}"
    return job_key(job_id, name)


def poster_key(job_id: str) -> str:
    return job_key(job_id, POSTER)


def chunks_key(job_id: str, profile: str) -> str:
    return job_key(job_id, f"{CHUNK_DIR}/{checked(profile, 'profile name')}")


def chunk_key(job_id: str, profile: str, index: int) -> str:
    return f"{chunks_key(job_id, profile)}/{int(index):05d}.mp4"


def audio_dir_key(job_id: str) -> str:
    return job_key(job_id, AUDIO_DIR)


def audio_key(job_id: str, kbps: int) -> str:
    """The chunked job's audio track at ``kbps`` (every stitch of that bitrate copies it)."""
    return f"{audio_dir_key(job_id)}/{int(kbps)}k.m4a"


def audio_part_key(job_id: str, kbps: int, index: int) -> str:
    """Part ``index`` of the ``in-slices`` job's audio at ``kbps`` (encoded by slice
    ``index``, joined by each stitch of that bitrate)."""
    return f"{audio_dir_key(job_id)}/{int(kbps)}k-{int(index):05d}.m4a"


def audio_list_name(profile: str, kbps: int) -> str:
    """The ffconcat list the stitch of ``profile`` writes beside the audio parts of ``kbps``
    (one per rendition: two stitches of one bitrate may run at once)."""
    return f"{checked(profile, 'profile name')}-{int(kbps)}k.ffconcat"


def chunk_list_lines(count: int) -> list[str]:
    """The ffconcat list of a rendition's chunks (relative names, so ``safe`` stays on)."""
    return ["ffconcat version 1.0", *(f"file {i:05d}.mp4" for i in range(count))]


def check_job(job: Job) -> None:
    """Check every name of a job record that a step will turn into a key."""
    _job_id(job.id)
    checked(job.source_file, "source file")
    for rendition in job.renditions:
        checked(rendition.profile, "profile name")
        if rendition.output is not None:
            _checked_output(rendition)
