"""Parse FFmpeg's ``-progress`` key=value blocks into progress snapshots."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """One progress block: where the encode is and how fast it goes."""

    out_time_s: float | None
    frame: int | None
    fps: float | None
    bitrate_kbps: float | None
    speed: float | None
    total_size: int | None
    finished: bool
    read_at: float | None = None
    """Wall-clock time the block was read from FFmpeg (the progress event's ``ts``)."""

    def percent(self, duration_s: float) -> float:
        """Return progress through a source of ``duration_s`` seconds, clamped to 0-100."""
        if self.finished:
            return 100.0
        if not self.out_time_s or duration_s <= 0:
            return 0.0
        return max(0.0, min(100.0, 100.0 * self.out_time_s / duration_s))

    def eta_s(self, duration_s: float) -> float | None:
        """Return the seconds left at the current speed, or None when unknown."""
        if self.finished:
            return 0.0
        if not self.speed or self.out_time_s is None or duration_s <= 0:
            return None
        return max(0.0, (duration_s - self.out_time_s) / self.speed)


def _number(value: str | None, cast: type = float, suffix: str = "") -> float | int | None:
    if value is None:
        return None
    value = value.strip()
    if suffix and value.endswith(suffix):
        value = value[: -len(suffix)]
    if not value or value == "N/A":
        return None
    try:
        return cast(value)
    except ValueError:
        return None


class ProgressParser:
    """Feed lines of ``-progress`` output; get a :class:`Progress` at the end of each block."""

    def __init__(self) -> None:
        self._fields: dict[str, str] = {}

    def feed(self, line: str) -> Progress | None:
        key, sep, value = line.strip().partition("=")
        if not sep:
            return None
        if key != "progress":
            self._fields[key] = value
            return None
        fields, self._fields = self._fields, {}
        out_time_us = _number(fields.get("out_time_us") or fields.get("out_time_ms"), int)
        bitrate = _number(fields.get("bitrate"), float, "kbits/s")
        return Progress(
            out_time_s=None if out_time_us is None or out_time_us < 0 else out_time_us / 1e6,
            frame=_number(fields.get("frame"), int),  # type: ignore[arg-type]
            fps=_number(fields.get("fps"), float),
            bitrate_kbps=bitrate,
            speed=_number(fields.get("speed"), float, "x"),
            total_size=_number(fields.get("total_size"), int),  # type: ignore[arg-type]
            finished=value.strip() == "end",
        )
