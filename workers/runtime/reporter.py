"""Turn FFmpeg progress into live-progress writes and throttled events; watch for cancel."""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable, Mapping

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
    """Record one FFmpeg's progress (throttled) for every rendition it encodes, and keep
    their leases: one script and one event per progress block, however many renditions
    a fused encode makes.

    ``on_tick`` returns False when the encode must stop: the job was canceled, one of its
    renditions was finished elsewhere, or a lease passed to another worker.
    """

    def __init__(self, store: JobStore, emitter: EventEmitter, job_id: str,
                 leases: Mapping[str, Lease], duration_s: float, *, hz: float,
                 renew_every_s: float, chunk: int | None = None) -> None:
        self.store, self.emitter, self.leases, self.chunk = store, emitter, leases, chunk
        self.job_id, self.profiles, self.duration_s = job_id, list(leases), duration_s
        self.window = SlidingWindow(round(hz))
        self.renew_every_s = renew_every_s
        self._pending: Progress | None = None
        self._bitrates: list[float | None] = []
        self._last_check = 0.0
        self._last_renew = time.monotonic()
        self._stop = False

    def on_progress(self, progress: Progress, bitrates: list[float | None]) -> None:
        """Take a progress block; ``bitrates`` (one per rendition, None for FFmpeg's own
        figure) tell the outputs of one FFmpeg apart."""
        self._pending = progress
        self._bitrates = bitrates
        self._publish_if_due()

    def on_tick(self) -> bool:
        now = time.monotonic()
        self._publish_if_due()
        if now - self._last_renew >= self.renew_every_s:
            self._last_renew = now
            for lease in self.leases.values():
                if not lease.renew():
                    log.warning("lost the lease on %s", lease.ref)
                    self._stop = True
        if now - self._last_check >= CANCEL_CHECK_S:
            self._last_check = now
            if not self.store.still_encoding(self.job_id, self.profiles):
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
        shared = progress_values(progress, self.duration_s)
        chunk = None
        if self.chunk is not None:  # the bar shows the whole rendition, over its chunks
            chunk = (self.chunk, min(shared.pop("percent") or 0.0, SLICE_PROGRESS_CAP))
            shared["eta_s"] = None
        renditions = {profile: {**shared, **({} if bitrate is None
                                             else {"bitrate_kbps": bitrate})}
                      for profile, bitrate in zip(self.profiles, self._bitrates, strict=True)}
        percents = self.store.record_progress(self.job_id, renditions, chunk)
        if percents is None:
            self._stop = True
            return
        for profile, values in renditions.items():
            values["percent"] = percents[profile]
        self.emitter.emit(progress_event(self.job_id, renditions, ts=progress.read_at))
