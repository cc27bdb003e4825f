"""The two sizes of a benchmark run: the full one (about 25 min on 2 cores) and ``--quick``."""

from __future__ import annotations

from dataclasses import dataclass

from bench.load import LoadPlan
from bench.media import SourceSpec


@dataclass(frozen=True)
class BenchConfig:
    quick: bool
    source: SourceSpec
    """The ladder source: every core busy while the cluster encodes it."""
    tiny: SourceSpec
    """One-second jobs for scheduling, throughput and memory (mpeg4: always encoded)."""
    plan: LoadPlan
    """Idle and loaded responsiveness runs, per async mode."""
    nice_plan: LoadPlan
    """The shorter loaded run, FFmpeg at niceness 10 and 0 (threading)."""
    pairs: int
    sequential_jobs: int
    memory_jobs: int
    throughput_jobs: int
    job_timeout_s: float
    long_source: SourceSpec
    """Split-and-stitch: one long source on one and on two single-core workers."""
    chunk_rounds: int
    """Split-and-stitch runs per figure (the medians are reported: one run here varies by
    up to 20 %)."""
    storage_source: SourceSpec
    """The ladder job run in `local` and in `s3` storage, alternated."""
    storage_pairs: int
    transfer_mb: int
    """Size of the file timed through the web tier into the bucket and back to scratch."""
    codec_source: SourceSpec
    """The 1080p rung encoded once per codec (x264, x265, SVT-AV1 at default presets)."""
    easy_source: SourceSpec
    """The per-title comparison's easy title (the ladder source is its other one)."""
    clients: int = 200
    """Live dashboards connected while ``client_jobs`` one-second jobs run (issue 15)."""
    client_jobs: int = 20
    settle_s: float = 1.0
    """Pause before each timed ladder run, so one run's tail never overlaps the next."""


FULL = BenchConfig(
    quick=False,
    source=SourceSpec(seconds=20, size="1920x1080", rate=25),
    tiny=SourceSpec(seconds=1, size="320x240", rate=25, codec="mpeg4"),
    plan=LoadPlan(health=2000, socketio=200, pages=40, http_procs=2,
                  health_interval_s=0.01, socketio_interval_s=0.05, page_interval_s=0.25),
    nice_plan=LoadPlan(health=1000, socketio=100, pages=0, http_procs=2,
                       health_interval_s=0.01, socketio_interval_s=0.05),
    pairs=6,
    sequential_jobs=20,
    memory_jobs=50,
    throughput_jobs=200,
    job_timeout_s=600,
    long_source=SourceSpec(seconds=60, size="1920x1080", rate=25),
    chunk_rounds=3,
    storage_source=SourceSpec(seconds=10, size="1920x1080", rate=25),
    storage_pairs=2,
    transfer_mb=256,
    codec_source=SourceSpec(seconds=4, size="1920x1080", rate=25),
    easy_source=SourceSpec(seconds=20, size="1920x1080", rate=25, still=True),
)

QUICK = BenchConfig(
    quick=True,
    source=SourceSpec(seconds=1, size="1920x1080", rate=10),
    tiny=SourceSpec(seconds=1, size="160x120", rate=10, codec="mpeg4"),
    plan=LoadPlan(health=60, socketio=15, pages=3, http_procs=2,
                  health_interval_s=0.02, socketio_interval_s=0.05, page_interval_s=0.2),
    nice_plan=LoadPlan(health=30, socketio=10, pages=0, http_procs=1,
                       health_interval_s=0.02, socketio_interval_s=0.05),
    pairs=1,
    sequential_jobs=3,
    memory_jobs=5,
    throughput_jobs=5,
    job_timeout_s=120,
    long_source=SourceSpec(seconds=10, size="320x240", rate=10, codec="mpeg4"),
    chunk_rounds=1,
    storage_source=SourceSpec(seconds=1, size="640x360", rate=10),
    storage_pairs=1,
    transfer_mb=16,
    codec_source=SourceSpec(seconds=0.4, size="1920x1080", rate=10),
    easy_source=SourceSpec(seconds=2, size="640x360", rate=10, still=True),
    clients=8,
    client_jobs=2,
    settle_s=0.2,
)
