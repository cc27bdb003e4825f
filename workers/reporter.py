"""Turn FFmpeg progress into job-record writes and throttled events; watch for cancel."""

from __future__ import annotations

import collections
import logging
import time

from common.events import EventEmitter, progress_event
from common.jobs import Job, Rendition, RenditionState
from common.store import JobStore, StaleUpdate
from workers.ffmpeg.progress import Progress
from workers.lease import Lease

log = logging.getLogger(__name__)

CANCEL_CHECK_S = 0.5


def progress_values(progress: Progress, duration_s: float) -> dict[str, float | None]:
    """Return the progress fields of a rendition (and of the ``progress`` event)."""
    eta = progress.eta_s(duration_s)
    return {
        "percent": round(progress.percent(duration_s), 1),
        "fps": progress.fps,
        "bitrate_kbps": progress.bitrate_kbps,
        "speed": progress.speed,
        "eta_s": None if eta is None else round(eta, 1),
    }


class ProgressReporter:
    """Record each rendition's progress (at most ``hz`` events in any second) and keep its lease.

    The limit is a sliding one-second window rather than a minimum gap, so a block FFmpeg
    writes soon after the previous one (its output comes in bursts when it is starved of
    CPU) goes out at once instead of waiting a whole interval.

    ``on_tick`` returns False when the encode must stop: the job was canceled, the
    rendition was finished elsewhere, or the lease passed to another worker.
    """

    def __init__(self, store: JobStore, emitter: EventEmitter, job_id: str, profile: str,
                 duration_s: float, lease: Lease, *, hz: float, renew_every_s: float,
                 chunk: int | None = None) -> None:
        self.store, self.emitter, self.lease, self.chunk = store, emitter, lease, chunk
        self.job_id, self.profile, self.duration_s = job_id, profile, duration_s
        self.per_second = max(1, round(hz))
        self.renew_every_s = renew_every_s
        self._pending: Progress | None = None
        self._sent: collections.deque[float] = collections.deque(maxlen=self.per_second)
        self._last_check = 0.0
        self._last_renew = time.monotonic()
        self._stop = False
        self._bitrate_kbps: float | None = None

    def on_progress(self, progress: Progress, bitrate_kbps: float | None = None) -> None:
        """Take a progress block; ``bitrate_kbps`` overrides FFmpeg's (shared by all outputs)."""
        self._pending = progress
        self._bitrate_kbps = bitrate_kbps
        self._publish_if_due()

    def on_tick(self) -> bool:
        now = time.monotonic()
        self._publish_if_due()
        if now - self._last_renew >= self.renew_every_s:
            self._last_renew = now
            if not self.lease.renew():
                log.warning("lost the lease on %s/%s", self.job_id, self.profile)
                self._stop = True
        if now - self._last_check >= CANCEL_CHECK_S:
            self._last_check = now
            job = self.store.get(self.job_id)
            if job is None or job.terminal or job.rendition(self.profile).terminal:
                self._stop = True
        return not self._stop

    def _publish_if_due(self) -> None:
        progress = self._pending
        if progress is None or self._stop:
            return
        now = time.monotonic()
        window_full = len(self._sent) == self.per_second and now - self._sent[0] < 1.0
        if window_full and not progress.finished:
            return  # held: the next block replaces it, or it goes out when the window opens
        self._pending = None
        self._sent.append(now)
        values = progress_values(progress, self.duration_s)
        chunk_percent = values["percent"] or 0.0
        if self._bitrate_kbps is not None:
            values["bitrate_kbps"] = self._bitrate_kbps

        def apply(job: Job, rendition: Rendition) -> None:
            if rendition.state != RenditionState.ENCODING:
                raise StaleUpdate(f"{self.job_id}/{self.profile} is {rendition.state}")
            for name, value in values.items():
                setattr(rendition, name, value)
            if self.chunk is not None:  # the bar shows the whole rendition, over its chunks
                rendition.chunk_percent[self.chunk] = chunk_percent
                rendition.percent = round(sum(rendition.chunk_percent) / rendition.chunks, 1)
                rendition.eta_s = None

        try:
            job = self.store.update_rendition(self.job_id, self.profile, apply)
        except StaleUpdate:
            self._stop = True
            return
        if self.chunk is not None:
            values.update(percent=job.rendition(self.profile).percent, eta_s=None)
        self.emitter.emit(progress_event(self.job_id, self.profile, values, ts=progress.read_at))
