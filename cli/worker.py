"""``ffcluster worker``: run one Celery encoding worker in the foreground."""

from __future__ import annotations

import argparse

from cli.binaries import require
from common.settings import Settings


def run(args: argparse.Namespace, settings: Settings) -> int:
    settings = settings.with_overrides(
        gpu=args.gpu, concurrency=args.concurrency, worker_name=args.worker_name
    )
    require("worker", [settings.ffmpeg_bin, settings.ffprobe_bin])
    from workers.runtime.main import run_worker

    run_worker(settings)
    return 0
