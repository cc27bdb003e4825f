"""Turn FFmpeg progress into live-progress writes and throttled events; watch for cancel."""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable

from common.events import EventEmitter, progress_event
from common.store import JobStore
from workers.ffmpeg.progress import Progress
from workers.runtime.lease import Lease

log = logging.getLogger(__name__)

CANCEL_CHECK_S = 0.5
SLICE_PROGRESS_CAP = 99.9
"""A slice's progress stops short of 100: only its recorded result (after its file is
stored) marks it encoded, so a stitch never starts before every chunk file is there."""


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


class SlidingWindow:
    """Allow at most ``per_second`` events in any one-second window.

    A sliding window rather than a minimum gap, so a block FFmpeg writes soon after the
    previous one (its output comes in bursts when it is starved of CPU) goes out at once
    instead of waiting a whole interval.
    """

    def __init__(self, per_second: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_second = max(1, per_second)
        self.clock = clock
        self._sent: collections.deque[float] = collections.deque(maxlen=self.per_second)

    def full(self) -> bool:
        return len(self._sent) == self.per_second and self.clock() - self._sent[0] < 1.0

    def take(self) -> None:
        self._sent.append(self.clock())


class ProgressReporter:
    """Record one rendition's progress (throttled) and keep its lease.

    ``on_tick`` returns False when the encode must stop: the job was canceled, the
    rendition was finished elsewhere, or the lease passed to another worker.
    """

    def __init__(self, store: JobStore, emitter: EventEmitter, job_id: str, profile: str,
                 duration_s: float, lease: Lease, *, hz: float, renew_every_s: float,
                 chunk: int | None = None) -> None:
        self.store, self.emitter, self.lease, self.chunk = store, emitter, lease, chunk
        self.job_id, self.profile, self.duration_s = job_id, profile, duration_s
        self.window = SlidingWindow(round(hz))
        self.renew_every_s = renew_every_s
        self._pending: Progress | None = None
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
                log.warning("lost the lease on %s", self.lease.ref)
                self._stop = True
        if now - self._last_check >= CANCEL_CHECK_S:
            self._last_check = now
            if not self.store.still_encoding(self.job_id, self.profile):
                self._stop = True
        return not self._stop

    def _publish_if_due(self) -> None:
        progress = self._pending
        if progress is None or self._stop:
            return
        if self.window.full() and not progress.finished:
            return  # held: the next block replaces it, or it goes out when the window opens
        self._pending = None
        self.window.take()
        values = progress_values(progress, self.duration_s)
        if self._bitrate_kbps is not None:
            values["bitrate_kbps"] = self._bitrate_kbps
        chunk = None
        if self.chunk is not None:  # the bar shows the whole rendition, over its chunks
            chunk = (self.chunk, min(values.pop("percent") or 0.0, SLICE_PROGRESS_CAP))
            values["eta_s"] = None
        percent = self.store.record_progress(self.job_id, self.profile, values, chunk)
        if percent is None:
            self._stop = True
            return
        values["percent"] = percent
        self.emitter.emit(progress_event(self.job_id, self.profile, values, ts=progress.read_at))
