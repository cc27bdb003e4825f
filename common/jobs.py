"""The job and rendition model (their states and transitions are in :mod:`common.states`)."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from enum import StrEnum
from typing import Any

from common.pertitle import LadderMode, PerTitle
from common.states import JOB_TERMINAL, RENDITION_TERMINAL, JobState, RenditionState


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return value


def plain_fields(obj: Any, skip: str | None = None) -> dict[str, Any]:
    """Return a dataclass's fields as fresh JSON-ready values: ``dataclasses.asdict`` without
    its deep copy of every string and number (a job's JSON is built for every event)."""
    return {f.name: _plain(getattr(obj, f.name)) for f in fields(obj) if f.name != skip}


class JobMode(StrEnum):
    ENCODE = "encode"
    PASSTHROUGH = "passthrough"


class AudioTrack(StrEnum):
    """Where a chunked job's audio is encoded."""

    IN_STITCH = "in-stitch"
    """By each stitch, from the source (no audio, unchunked jobs, records older than this)."""
    PENDING = "pending"
    """By its own task while the video slices run; the stitches wait for it."""
    ENCODED = "encoded"
    """Encoded and stored: each stitch copies it."""
    IN_SLICES = "in-slices"
    """In parts, part ``k`` by the task of slice ``k`` before its video (``audio_cuts``);
    each stitch joins the parts of its bitrate by stream copy."""


JOB_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""What a job id may look like: every id a URL, a room or a work ref carries is checked."""


SAFE_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}")
"""What a stored file name or a profile name read from a record may look like: no
separators, no leading dot, so that no name can reach outside its directory."""


def is_safe_name(value: object) -> bool:
    return isinstance(value, str) and SAFE_NAME_PATTERN.fullmatch(value) is not None


def new_job_id() -> str:
    return uuid.uuid4().hex[:16]


def is_job_id(value: object) -> bool:
    return isinstance(value, str) and JOB_ID_PATTERN.fullmatch(value) is not None


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass
class SourceInfo:
    """What ffprobe found in an upload."""

    duration: float
    width: int
    height: int
    video_codec: str
    fps: float
    has_audio: bool
    bitrate_kbps: int | None = None
    format_name: str = ""
    pix_fmt: str | None = None
    frames: int | None = None
    audio_codec: str | None = None
    audio_rate: int | None = None
    """The audio's sample rate (Hz), which the AAC renditions keep."""
    audio_duration: float | None = None
    """How long the audio lasts (it may end before the video); None where the container
    does not say."""
    audio_sample_exact: bool = False
    """The audio's timestamps resolve one sample and it starts with the video (MP4, MOV;
    not Matroska's milliseconds): a seek finds any sample exactly."""
    last_keyframe_s: float | None = None
    """When the video's last keyframe starts, where the probe read every packet (small
    uploads); None where it is not known."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceInfo:
        return cls(**_known(cls, data))


CODECS_PATTERN = re.compile(r"[A-Za-z0-9.]{1,40}(,[A-Za-z0-9.]{1,40}){0,3}")
"""What an RFC 6381 CODECS value read from a record may look like before it is written
into a playlist or a manifest."""
MEDIA_PLAYLIST_PATTERN = re.compile(r"hls/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/index\.m3u8")
"""Where a rendition's media playlist read from a record may be (in the job's folder)."""


@dataclass
class AudioRendition:
    """The job's one audio rendition (CMAF segments shared by HLS and DASH), as measured."""

    playlist: str
    bandwidth: int
    average_bandwidth: int
    codecs: str
    sample_rate: int
    channels: int

    @classmethod
    def from_dict(cls, data: object) -> AudioRendition | None:
        """Read it from a record; None (packaged again at finalize) when it is malformed."""
        if not isinstance(data, dict):
            return None
        try:
            audio = cls(str(data["playlist"]), int(data["bandwidth"]),
                        int(data["average_bandwidth"]), str(data["codecs"]),
                        int(data["sample_rate"]), int(data["channels"]))
        except (KeyError, TypeError, ValueError):
            return None
        well_formed = (CODECS_PATTERN.fullmatch(audio.codecs)
                       and MEDIA_PLAYLIST_PATTERN.fullmatch(audio.playlist))
        return audio if well_formed else None


@dataclass
class Fallback:
    """One encoder that was tried and failed, with FFmpeg's own error line."""

    codec: str
    error: str


@dataclass
class Rendition:
    profile: str
    state: RenditionState = RenditionState.QUEUED
    percent: float = 0.0
    fps: float | None = None
    bitrate_kbps: float | None = None
    speed: float | None = None
    eta_s: float | None = None
    codec: str | None = None
    """The encoder that made it (``libx265``, ``hevc_nvenc``, ``copy``...)."""
    video_codec: str = "h264"
    """The codec its profile asks for: ``h264``, ``hevc`` or ``av1``."""
    fallbacks: list[Fallback] = field(default_factory=list)
    passthrough: bool = False
    worker: str | None = None
    queue: str | None = None
    attempts: int = 0
    width: int | None = None
    height: int | None = None
    output: str | None = None
    playlist: str | None = None
    bandwidth: int | None = None
    """Peak bits per second over its video segments (the master adds the audio's)."""
    average_bandwidth: int | None = None
    codecs: str | None = None
    """RFC 6381 codecs of the packaged rendition (``avc1.64001f,mp4a.40.2``)."""
    audio: AudioRendition | None = None
    """The job's audio rendition when this rendition's encode wrote it: the CMAF segments
    of its own AAC stream, beside its video's (the job's tallest whole rendition)."""
    ssim: float | None = None
    """Mean SSIM (All) against the source, measured when the job asked for ``quality``."""
    psnr: float | None = None
    """Mean PSNR in dB against the source, measured with ``ssim``."""
    missed_ssim: float | None = None
    """A per-title rendition's first SSIM when it missed the target and was encoded again."""
    reencoded_kbps: int | None = None
    """The corrected bitrate of that second encode."""
    quality_note: str | None = None
    """What the per-title check of the finished rendition found, when it is not plain."""
    chunks: int = 0
    """How many chunks split-and-stitch cut this rendition into (0: encoded in one piece)."""
    chunk_percent: list[float] = field(default_factory=list)
    chunk_attempts: list[int] = field(default_factory=list)
    chunk_workers: list[str | None] = field(default_factory=list)
    """The worker that last encoded each slice (so a job shows which hosts shared it)."""
    target: dict[str, Any] | None = None
    size_bytes: int | None = None
    error: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    ffmpeg_s: float | None = None
    """How long the FFmpeg that made its file ran (the attempt that succeeded; a fused
    encode's renditions share one). None for a stitched rendition and before it is done."""

    @property
    def terminal(self) -> bool:
        return self.state in RENDITION_TERMINAL

    @property
    def chunks_encoded(self) -> bool:
        return bool(self.chunks) and all(p >= 100.0 for p in self.chunk_percent)

    def chunk_open(self, index: int) -> bool:
        """Whether slice ``index`` of this rendition still needs encoding."""
        return bool(self.chunks) and not self.terminal and self.chunk_percent[index] < 100.0

    def set_chunk_percent(self, index: int, percent: float) -> None:
        """Set one slice's percent; the rendition's bar shows the mean over its slices."""
        self.set_chunk_percents([*self.chunk_percent[:index], percent,
                                 *self.chunk_percent[index + 1:]])

    def set_chunk_percents(self, percents: list[float]) -> None:
        self.chunk_percent = percents
        self.percent = round(sum(percents) / self.chunks, 1)

    def to_dict(self) -> dict[str, Any]:
        data = plain_fields(self)
        data["state"] = str(self.state)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rendition:
        values = _known(cls, data)
        values["state"] = RenditionState(values.get("state", RenditionState.QUEUED))
        values["fallbacks"] = [Fallback(**f) for f in values.get("fallbacks", [])]
        values["audio"] = AudioRendition.from_dict(values.get("audio"))
        return cls(**values)


def audio_rank(rendition: Rendition) -> tuple[int, int, str]:
    """Order of the renditions the job's audio rendition is taken from (the highest wins):
    the tallest, then the one whose profile gives its audio the most bits."""
    audio_kbps = int((rendition.target or {}).get("audio_bitrate_kbps") or 0)
    return rendition.height or 0, audio_kbps, rendition.profile


@dataclass
class Job:
    id: str
    source_name: str
    source_file: str
    state: JobState = JobState.QUEUED
    mode: JobMode = JobMode.ENCODE
    requested_profiles: list[str] | None = None
    hls: bool = True
    quality: bool = False
    """Measure each rendition's SSIM and PSNR against the source when it is done."""
    ladder: LadderMode = LadderMode.FIXED
    target_ssim: float | None = None
    """The SSIM each per-title rung aims at (the cluster's setting when the job named none)."""
    per_title: PerTitle | None = None
    """The analysis of a per-title job: samples, fits, chosen and dropped rungs."""
    tasks_sent: bool = True
    """Whether the tasks that the job's last step change calls for (the probe after a URL
    fetch, the analysis, or the encodes) are on their queues: False from that change until
    they are sent, so the step of a worker killed in between stays open for the reaper."""
    idempotency_key: str | None = None
    """The caller's name for this source; no second job is created with the same one."""
    source_url: str | None = None
    """Where a worker fetches the source from (``https://``, ``http://``, ``s3://``)."""
    ingest_bytes: int = 0
    ingest_total: int | None = None
    """The source's size while it is fetched, when the server says (Content-Length)."""
    master_playlist: str | None = None
    dash_manifest: str | None = None
    """The DASH MPD over the same CMAF segments as the master playlist."""
    chunk_seconds: int | None = None
    """Requested chunk length (0: never chunk; None: the cluster decides by duration)."""
    chunk_length_s: float = 0.0
    """Planned chunk length in seconds; 0 when the job is encoded unchunked."""
    chunk_bounds: list[float] = field(default_factory=list)
    """Where each slice starts, then the source's end (the slices' lengths differ by at most
    a segment); empty in records older than balanced slices (``chunk_length_s`` applies)."""
    chunk_cuts: list[str] = field(default_factory=list)
    """How each slice starts: ``keyframe`` (no decode before it) or ``seek``."""
    audio_track: AudioTrack = AudioTrack.IN_STITCH
    audio_attempts: int = 0
    audio_cuts: list[int] = field(default_factory=list)
    """Where the audio parts of an ``in-slices`` job meet, in samples at ``audio_rate``
    (whole AAC frames); part ``k`` ends at ``audio_cuts[k]``, the last at the source's end."""
    audio_lead_s: float = 0.0
    """How far before its start each part after the first begins encoding (as planned)."""
    error: str | None = None
    source: SourceInfo | None = None
    renditions: list[Rendition] = field(default_factory=list)
    poster: str | None = None
    size_bytes: int = 0
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    finished_at: float | None = None

    @classmethod
    def new(cls, source_name: str, source_file: str, **kwargs: Any) -> Job:
        return cls(id=new_job_id(), source_name=source_name, source_file=source_file, **kwargs)

    @property
    def terminal(self) -> bool:
        return self.state in JOB_TERMINAL

    def rendition(self, profile: str) -> Rendition:
        for rendition in self.renditions:
            if rendition.profile == profile:
                return rendition
        raise KeyError(profile)

    def header_dict(self) -> dict[str, Any]:
        """Return every field but the renditions (stored separately so workers never race)."""
        data = plain_fields(self, skip="renditions")
        data["state"] = str(self.state)
        data["mode"] = str(self.mode)
        data["ladder"] = str(self.ladder)
        data["audio_track"] = str(self.audio_track)
        data["profiles"] = [r.profile for r in self.renditions]
        return data

    def to_dict(self) -> dict[str, Any]:
        """Return the job JSON that the API, Socket.IO and webhooks carry."""
        data = self.header_dict()
        data["renditions"] = [r.to_dict() for r in self.renditions]
        data["percent"] = self.percent
        if data.get("per_title"):
            self._add_measured(data["per_title"])
        return data

    def _add_measured(self, per_title: dict[str, Any]) -> None:
        """Put each kept rung's measured SSIM beside its prediction (read from its rendition,
        the one place it is stored)."""
        done = {r.profile: r for r in self.renditions}
        for rung in per_title.get("rungs", []):
            rendition = done.get(rung.get("profile"))
            if rendition is not None:
                rung["measured_ssim"] = rendition.ssim
                rung["encoded_kbps"] = (rendition.target or {}).get("video_bitrate_kbps")
                rung["reencoded"] = rendition.reencoded_kbps is not None

    @property
    def audio_carrier(self) -> str | None:
        """The rendition whose encode also writes the job's audio rendition: the tallest one
        encoded whole (not sliced, not a stream copy), the one finalize would copy it from."""
        if not self.hls or self.source is None or not self.source.has_audio:
            return None
        whole = [r for r in self.renditions if not r.chunks and not r.passthrough]
        return max(whole, key=audio_rank).profile if whole else None

    @property
    def percent(self) -> float:
        if self.state == JobState.DONE:
            return 100.0
        if not self.renditions:
            return 0.0
        return round(sum(r.percent for r in self.renditions) / len(self.renditions), 1)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        values = _known(cls, data)
        values["state"] = JobState(values.get("state", JobState.QUEUED))
        values["mode"] = JobMode(values.get("mode", JobMode.ENCODE))
        values["ladder"] = LadderMode(values.get("ladder", LadderMode.FIXED))
        values["audio_track"] = AudioTrack(values.get("audio_track", AudioTrack.IN_STITCH))
        if values.get("per_title"):
            values["per_title"] = PerTitle.from_dict(values["per_title"])
        if values.get("source"):
            values["source"] = SourceInfo.from_dict(values["source"])
        values["renditions"] = [Rendition.from_dict(r) for r in data.get("renditions", [])]
        return cls(**values)

    def summarize_state(self) -> JobState:
        """Return the job state its renditions imply once all are terminal."""
        states = {r.state for r in self.renditions}
        if RenditionState.CANCELED in states:
            return JobState.CANCELED
        if RenditionState.FAILED in states:
            return JobState.FAILED
        return JobState.DONE
