"""The one typed settings object: every ``FFCLUSTER_*`` variable is read here and nowhere else."""

from __future__ import annotations

import ipaddress
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from common.pertitle import LadderMode

ASYNC_MODES = ("threading", "eventlet", "gevent")
GPU_MODES = ("auto", "on", "off")
STORAGE_KINDS = ("local", "s3")
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class SettingsError(ValueError):
    """A configuration value that cannot be used, with a sentence saying why."""


def _env_name(name: str) -> str:
    return "FFCLUSTER_" + name.upper()


@dataclass(frozen=True)
class Settings:
    """Configuration of every ffcluster process; build it with :meth:`from_env`.

    Each field maps to ``FFCLUSTER_<FIELD NAME IN UPPER CASE>``; ``help`` in the
    field metadata is the text of the README's configuration table.
    """

    redis_url: str | None = field(
        default=None,
        metadata={"help": "Redis for the broker, job records and events: `redis://` or, with "
                  "Sentinel, `redis+sentinel://[:pw@]h1:26379,h2:26379/DB/SERVICE`. Unset: "
                  "`ffcluster up` starts a private redis-server; other commands use "
                  f"{DEFAULT_REDIS_URL}."},
    )
    data_dir: Path = field(
        default=Path("data"),
        metadata={"help": "Uploads and outputs in `local` storage, and the private Redis's "
                  "append-only file."},
    )
    storage: str = field(
        default="local",
        metadata={"help": "Where uploads and outputs are kept: `local` (the data directory, "
                  "shared by every process) or `s3` (an S3-compatible bucket; workers then "
                  "need nothing but Redis and the bucket)."},
    )
    s3_bucket: str | None = field(
        default=None, metadata={"help": "`s3` storage: the bucket (it must exist)."}
    )
    s3_endpoint_url: str | None = field(
        default=None,
        metadata={"help": "`s3` storage: the S3 API address (MinIO, Ceph RGW, Garage); unset "
                  "means AWS. Credentials come from the AWS chain (AWS_ACCESS_KEY_ID, "
                  "AWS_SECRET_ACCESS_KEY, profiles, instance roles)."},
    )
    s3_prefix: str = field(
        default="ffcluster/", metadata={"help": "`s3` storage: the key prefix of every object."}
    )
    s3_region: str | None = field(
        default=None, metadata={"help": "`s3` storage: the region (AWS_DEFAULT_REGION if unset)."}
    )
    s3_attempts: int = field(
        default=5,
        metadata={"help": "`s3` storage: attempts per request (exponential backoff between "
                  "them) before a transfer fails with a sentence."},
    )
    s3_part_mb: int = field(
        default=8,
        metadata={"help": "`s3` storage: multipart part size, MiB (at least 5); also the most "
                  "of an upload the web tier holds in memory."},
    )
    scratch_dir: Path | None = field(
        default=None,
        metadata={"help": "`s3` storage: where a worker keeps the files of the tasks it runs "
                  "(removed after each task) and its cached sources; unset: a folder in the "
                  "system temp dir."},
    )
    profiles_file: Path | None = field(
        default=None,
        metadata={"help": "JSON or TOML file that replaces the default 1080p/720p/480p ladder."},
    )
    max_upload_mb: int = field(default=4096, metadata={"help": "Largest accepted upload, MiB."})
    api_token: str | None = field(
        default=None,
        metadata={"help": "When set, every API route but /api/health, every download and every "
                  "Socket.IO connection needs it as a Bearer token."},
    )
    secret_key: str | None = field(
        default=None, metadata={"help": "Flask secret key; random per process when unset."}
    )
    async_mode: str = field(
        default="threading",
        metadata={"help": "Web tier concurrency: threading, eventlet or gevent."},
    )
    host: str = field(default="127.0.0.1", metadata={"help": "Web tier listen address."})
    port: int = field(default=5000, metadata={"help": "Web tier listen port."})
    gpu: str = field(
        default="auto",
        metadata={"help": "Worker GPU tag: auto (if a hardware encoder works), on, off."},
    )
    concurrency: int = field(
        default=1,
        metadata={"help": "Encodes one worker runs at once (also read from MAX_CONCURRENT_JOBS)."},
    )
    worker_name: str | None = field(
        default=None, metadata={"help": "Celery node name prefix; default cpu/gpu by tag."}
    )
    max_attempts: int = field(
        default=3, metadata={"help": "Attempts per rendition before it is marked failed."}
    )
    visibility_timeout_s: int = field(
        default=43200,
        metadata={"help": "Redis broker visibility timeout, seconds. Crash recovery uses leases, "
                  "not this."},
    )
    lease_s: int = field(
        default=15, metadata={"help": "Seconds a running rendition's lease lives unrenewed."}
    )
    heartbeat_s: float = field(
        default=3.0, metadata={"help": "Seconds between worker heartbeats and lease renewals."}
    )
    task_time_limit_s: int = field(
        default=6 * 3600, metadata={"help": "Hard limit for one rendition's encode, seconds."}
    )
    ffmpeg_bin: str = field(default="ffmpeg", metadata={"help": "FFmpeg executable."})
    ffprobe_bin: str = field(default="ffprobe", metadata={"help": "ffprobe executable."})
    ffmpeg_nice: int = field(
        default=10,
        metadata={"help": "Niceness added to FFmpeg and ffprobe (each in its own session, so its "
                          "own scheduler autogroup) so the web tier and Redis keep the CPU."},
    )
    hls: bool = field(
        default=True,
        metadata={"help": "Also package every job for streaming (CMAF segments, an HLS master "
                  "playlist and a DASH manifest); a job's `hls` field overrides it."},
    )
    ladder: str = field(
        default="fixed",
        metadata={"help": "The ladder of a job that names none: `fixed` (every rung at its "
                  "profile's bitrate) or `per-title` (each rung at the lowest bitrate that "
                  "reaches the target SSIM, measured on samples of the source)."},
    )
    target_ssim: float = field(
        default=0.98,
        metadata={"help": "The SSIM (FFmpeg's `ssim` filter, All, against the source scaled to "
                  "the rung) a per-title rung aims at; a job's `target_ssim` overrides it."},
    )
    ssim_tolerance: float = field(
        default=0.003,
        metadata={"help": "How far under the target a finished per-title rendition may measure "
                  "before it is encoded again, once, at a corrected bitrate."},
    )
    segment_seconds: int = field(
        default=4,
        metadata={"help": "HLS segment length, seconds; keyframes are forced on its multiples."},
    )
    chunk_seconds: int = field(
        default=32,
        metadata={"help": "Split-and-stitch chunk length, seconds (rounded up to a multiple of "
                  "the HLS segment length)."},
    )
    chunk_above_s: int = field(
        default=180,
        metadata={"help": "Sources longer than this many seconds are split into chunks that "
                  "every worker encodes at once; 0 turns automatic chunking off."},
    )
    fuse_renditions: bool = field(
        default=True,
        metadata={"help": "Encode the renditions that go to one worker in one FFmpeg with one "
                  "decode (split filter) instead of one FFmpeg each."},
    )
    x264_threads: int = field(
        default=0, metadata={"help": "libx264 threads per encode; 0 lets x264 choose."}
    )
    progress_hz: float = field(
        default=4.0, metadata={"help": "Most progress events (and live-progress writes) per "
                                        "second per FFmpeg; one event covers every rendition "
                                        "that FFmpeg encodes."}
    )
    probe_timeout_s: int = field(
        default=30, metadata={"help": "Seconds ffprobe may take on one upload."}
    )
    max_source_pixels: int = field(
        default=8192 * 4352,
        metadata={"help": "Largest accepted source frame (width x height), checked by ffprobe "
                  "and enforced on every decoded frame (FFmpeg's -max_pixels)."},
    )
    max_source_seconds: int = field(
        default=12 * 3600,
        metadata={"help": "Longest accepted source, seconds; the duration is taken from the "
                  "stream's packets, not from the container header alone."},
    )
    max_chunks: int = field(
        default=512,
        metadata={"help": "Most slices split-and-stitch cuts one job into; past it the slices "
                  "are made longer."},
    )
    chunk_window: int = field(
        default=8,
        metadata={"help": "Most slice tasks of one job queued at once; the next is queued as "
                  "each one ends, so other jobs' tasks are never behind a whole long job."},
    )
    audio_lead_s: float = field(
        default=12.0,
        metadata={"help": "A split-and-stitch job's audio is encoded in one part per encode "
                  "slot, each by one of the first slices; every part after the first also "
                  "encodes this many seconds before its join, so the AAC encoder has "
                  "settled there (0: every part starts cold and codes its first seconds "
                  "measurably worse)."},
    )
    allowed_hosts: str | None = field(
        default=None,
        metadata={"help": "Comma-separated Host names the web tier answers (DNS rebinding "
                  "guard); `*` allows any. Unset: localhost, 127.0.0.1, [::1] and "
                  "FFCLUSTER_HOST when it names one address."},
    )
    web_threads: int = field(
        default=256,
        metadata={"help": "Most connections one web process serves at once (threads, or green "
                  "threads under eventlet; each Socket.IO client holds one); more wait in "
                  "the listen queue. Its Redis pools are sized to match."},
    )
    upload_retention_h: float = field(
        default=72.0,
        metadata={"help": "Hours the upload of a failed or canceled job is kept for a retry; "
                  "0 keeps it until the job is retried."},
    )
    ingest_allow: str | None = field(
        default=None,
        metadata={"help": "Comma list of networks (CIDR) a `source_url` may reach although "
                  "they are not public: loopback, private, link-local and metadata addresses "
                  "are refused unless listed here."},
    )
    ingest_timeout_s: int = field(
        default=3600, metadata={"help": "Most seconds a worker spends fetching one `source_url`."}
    )
    upload_chunk_mb: int = field(
        default=64,
        metadata={"help": "MiB per request (tus PATCH) of the dashboard's resumable uploads; "
                  "keep it under any proxy's request-body limit."},
    )
    upload_expiry_h: float = field(
        default=24.0,
        metadata={"help": "Hours an unfinished resumable (tus) upload is kept; then its bytes "
                  "are removed."},
    )
    webhook_url: str | None = field(
        default=None,
        metadata={"help": "POSTed `{\"event\": \"job\", \"job\": <job JSON>}` on every job "
                          "state change."},
    )
    webhook_secret: str | None = field(
        default=None, metadata={"help": "HMAC-SHA256 key for the X-FFcluster-Signature header."}
    )
    flower_url: str | None = field(
        default=None, metadata={"help": "Flower address the dashboard links to."}
    )
    flower_basic_auth: str | None = field(
        default=None,
        metadata={"help": "`user:password` for the Flower that `ffcluster up --flower` runs; "
                  "unset: a password is generated and printed once."},
    )
    log_level: str = field(default="INFO", metadata={"help": "Python logging level."})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``FFCLUSTER_*`` variables, then apply ``overrides``."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(_env_name(f.name))
            if not raw and f.name == "concurrency":
                raw = env.get("MAX_CONCURRENT_JOBS")
            if raw is None or raw == "":
                continue
            values[f.name] = _convert(f.name, str(f.type), raw)
        values.update(_coerce_overrides(overrides))
        settings = cls(**values)
        settings.validate()
        return settings

    def with_overrides(self, **overrides: Any) -> Settings:
        """Return a copy with the non-None ``overrides`` applied and validated."""
        settings = replace(self, **_coerce_overrides(overrides))
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise :class:`SettingsError` for values no process could run with."""
        if self.async_mode not in ASYNC_MODES:
            raise SettingsError(
                f"FFCLUSTER_ASYNC_MODE must be one of {', '.join(ASYNC_MODES)}, "
                f"not {self.async_mode!r}."
            )
        if self.gpu not in GPU_MODES:
            raise SettingsError(f"FFCLUSTER_GPU must be auto, on or off, not {self.gpu!r}.")
        for name in ("concurrency", "max_attempts", "max_upload_mb", "lease_s", "segment_seconds",
                     "max_source_seconds", "max_chunks", "chunk_window", "web_threads",
                     "s3_attempts", "ingest_timeout_s", "upload_chunk_mb"):
            if getattr(self, name) < 1:
                raise SettingsError(f"{_env_name(name)} must be at least 1.")
        if self.redis_url and self.redis_url.startswith("redis+sentinel:"):
            from common.redis_client import sentinel_target

            try:
                sentinel_target(self.redis_url)
            except ValueError as exc:
                raise SettingsError(f"FFCLUSTER_REDIS_URL: {exc}.") from None
        if self.ladder not in set(LadderMode):
            raise SettingsError(f"FFCLUSTER_LADDER must be fixed or per-title, not "
                                f"{self.ladder!r}.")
        if not 0.5 <= self.target_ssim < 1.0 or not 0.0 <= self.ssim_tolerance < 0.1:
            raise SettingsError("FFCLUSTER_TARGET_SSIM must be at least 0.5 and under 1, and "
                                "FFCLUSTER_SSIM_TOLERANCE between 0 and 0.1.")
        if self.storage not in STORAGE_KINDS:
            raise SettingsError(f"FFCLUSTER_STORAGE must be local or s3, not {self.storage!r}.")
        if self.storage == "s3" and not self.s3_bucket:
            raise SettingsError("FFCLUSTER_STORAGE is s3 but FFCLUSTER_S3_BUCKET is not set.")
        if self.s3_part_mb < 5:
            raise SettingsError("FFCLUSTER_S3_PART_MB must be at least 5 (S3's smallest part).")
        if self.s3_prefix.startswith("/") or (self.s3_prefix and not self.s3_prefix.endswith("/")):
            raise SettingsError("FFCLUSTER_S3_PREFIX must be relative and end with a slash "
                                f"(like 'ffcluster/'), not {self.s3_prefix!r}.")
        try:
            self.ingest_networks  # noqa: B018 (parsed once here so a typo stops start-up)
        except ValueError as exc:
            raise SettingsError(f"FFCLUSTER_INGEST_ALLOW: {exc}.") from None
        if self.upload_expiry_h <= 0:
            raise SettingsError("FFCLUSTER_UPLOAD_EXPIRY_H must be more than 0.")
        if self.audio_lead_s < 0:
            raise SettingsError("FFCLUSTER_AUDIO_LEAD_S must be 0 or more.")
        for name in ("heartbeat_s", "progress_hz"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"{_env_name(name)} must be more than 0.")

    @property
    def ingest_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """The non-public networks ``FFCLUSTER_INGEST_ALLOW`` lets a source URL reach."""
        return tuple(ipaddress.ip_network(part.strip(), strict=False)
                     for part in (self.ingest_allow or "").split(",") if part.strip())

    @property
    def effective_redis_url(self) -> str:
        return self.redis_url or DEFAULT_REDIS_URL

    @property
    def host_names(self) -> frozenset[str]:
        """Host header names (without port) the web tier answers; empty means any."""
        if self.allowed_hosts is not None and self.allowed_hosts.strip():
            names = {h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip()}
            return frozenset() if "*" in names else frozenset(names)
        names = {"localhost", "127.0.0.1", "[::1]"}
        if self.host not in ("0.0.0.0", "::", ""):
            names.add(f"[{self.host}]" if ":" in self.host else self.host.lower())
        return frozenset(names)

    @property
    def effective_scratch_dir(self) -> Path:
        if self.scratch_dir is not None:
            return self.scratch_dir
        return Path(tempfile.gettempdir()) / f"ffcluster-scratch-{os.getuid()}"

    def environment(self) -> dict[str, str]:
        """Return these settings as ``FFCLUSTER_*`` variables, for child processes."""
        env: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                env[_env_name(f.name)] = str(value)
        return env

    @classmethod
    def documentation(cls) -> list[tuple[str, str, str]]:
        """Return (variable, default, help) rows for the README's configuration table."""
        return [
            (_env_name(f.name), "" if f.default is None else str(f.default), f.metadata["help"])
            for f in fields(cls)
        ]


def _coerce_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    """Drop None overrides and turn strings into the field's type (paths, numbers)."""
    types = {f.name: str(f.type) for f in fields(Settings)}
    return {
        name: _convert(name, types[name], value) if isinstance(value, str) else value
        for name, value in overrides.items()
        if value is not None
    }


TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def parse_bool(raw: str) -> bool | None:
    """Read a true/false word as settings, forms and the CLI spell it; None if it is neither."""
    word = raw.strip().lower()
    return True if word in TRUE_WORDS else False if word in FALSE_WORDS else None


def _convert(name: str, type_name: str, raw: str) -> Any:
    if type_name.startswith("bool"):
        value = parse_bool(raw)
        if value is None:
            raise SettingsError(f"{_env_name(name)} must be true or false, not {raw!r}.")
        return value
    try:
        if "Path" in type_name:
            return Path(raw)
        if type_name.startswith("int"):
            return int(raw)
        if type_name.startswith("float"):
            return float(raw)
    except ValueError:
        raise SettingsError(f"{_env_name(name)} must be a number, not {raw!r}.") from None
    return raw
