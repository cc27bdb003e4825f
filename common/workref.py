"""Work refs: the one name for a piece of running work (a URL job's ingest, a job's plan, a
rendition, a chunk, a chunked job's audio, a stitch, a per-title analysis).

A ref names a lease, an entry in the reaper's active set and a line in a worker's
advertisement. It has one text form, ``<job_id>/<kind>/<detail>``, built by ``str()``
and read back by :meth:`WorkRef.parse`; nothing else spells it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from common.jobs import is_job_id


class WorkKind(StrEnum):
    INGEST = "ingest"
    """Fetch a URL job's source into storage, then send its probe (``detail`` is ``url``)."""
    PLAN = "plan"
    """Probe a job's source, plan its renditions and send the next step (``detail`` is
    ``source``)."""
    RENDITION = "rendition"
    """Encode one whole rendition (``detail`` is its profile)."""
    CHUNK = "chunk"
    """Encode one time slice of every chunked rendition (``detail`` is the slice index)."""
    STITCH = "stitch"
    """Join one rendition's encoded slices (``detail`` is its profile)."""
    ANALYSIS = "analysis"
    """Sample a per-title job and choose its ladder (``detail`` is ``ladder``)."""
    AUDIO = "audio"
    """Encode a chunked job's audio track while its slices run (``detail`` is ``track``)."""


ANALYSIS_DETAIL = "ladder"
PLAN_DETAIL = "source"
INGEST_DETAIL = "url"
AUDIO_DETAIL = "track"


class BadWorkRef(ValueError):
    """Text that is not a work ref (a record written by something other than ffcluster)."""


@dataclass(frozen=True)
class WorkRef:
    job_id: str
    kind: WorkKind
    profile: str | None = None
    index: int | None = None

    @classmethod
    def rendition(cls, job_id: str, profile: str) -> WorkRef:
        return cls(job_id, WorkKind.RENDITION, profile=profile)

    @classmethod
    def chunk(cls, job_id: str, index: int) -> WorkRef:
        return cls(job_id, WorkKind.CHUNK, index=index)

    @classmethod
    def stitch(cls, job_id: str, profile: str) -> WorkRef:
        return cls(job_id, WorkKind.STITCH, profile=profile)

    @classmethod
    def ingest(cls, job_id: str) -> WorkRef:
        return cls(job_id, WorkKind.INGEST, profile=INGEST_DETAIL)

    @classmethod
    def plan(cls, job_id: str) -> WorkRef:
        return cls(job_id, WorkKind.PLAN, profile=PLAN_DETAIL)

    @classmethod
    def audio(cls, job_id: str) -> WorkRef:
        return cls(job_id, WorkKind.AUDIO, profile=AUDIO_DETAIL)

    @classmethod
    def analysis(cls, job_id: str) -> WorkRef:
        return cls(job_id, WorkKind.ANALYSIS, profile=ANALYSIS_DETAIL)

    @property
    def detail(self) -> str:
        return str(self.index) if self.kind == WorkKind.CHUNK else str(self.profile)

    def __str__(self) -> str:
        return f"{self.job_id}/{self.kind}/{self.detail}"

    @classmethod
    def parse(cls, text: str | bytes) -> WorkRef:
        """Read a ref back from its text form; :class:`BadWorkRef` for anything else."""
        value = text.decode(errors="replace") if isinstance(text, bytes) else text
        job_id, _, rest = value.partition("/")
        kind, _, detail = rest.partition("/")
        if not is_job_id(job_id) or not detail:
            raise BadWorkRef(f"{value[:80]!r} is not a work ref")
        try:
            work_kind = WorkKind(kind)
        except ValueError:
            raise BadWorkRef(f"{value[:80]!r} names no kind of work") from None
        if work_kind != WorkKind.CHUNK:
            return cls(job_id, work_kind, profile=detail)
        if not detail.isdigit():
            raise BadWorkRef(f"{value[:80]!r} names no chunk index")
        return cls(job_id, work_kind, index=int(detail))
