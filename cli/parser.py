"""The argparse tree of ``ffcluster``; imports nothing heavy, so ``web`` can monkey-patch first."""

from __future__ import annotations

import argparse
from pathlib import Path

from common.settings import ASYNC_MODES, GPU_MODES

UPLOAD_CHUNK_MB = 64
"""Default bytes per tus PATCH of `ffcluster submit`, in MiB."""
COMMANDS = ("up", "worker", "web", "submit", "watch", "status", "health")


def positive_int(text: str) -> int:
    """Parse a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def port_number(text: str) -> int:
    """Parse a TCP port (1-65535)."""
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port")
    return value


def _add_up(sub: argparse._SubParsersAction) -> None:
    up = sub.add_parser(
        "up", help="run a whole single-machine cluster in the foreground",
        description="Start Redis (unless FFCLUSTER_REDIS_URL is set), one worker, the web tier "
        "and optionally Flower; restart children that die; stop them all on Ctrl-C or SIGTERM.",
    )
    up.add_argument("--host", help="web tier listen address (default 127.0.0.1)")
    up.add_argument("--port", type=port_number, help="web tier listen port (default 5000)")
    up.add_argument("--workers", type=positive_int, dest="concurrency", metavar="N",
                    help="encodes the worker runs at once (default FFCLUSTER_CONCURRENCY or "
                    "MAX_CONCURRENT_JOBS, else 1)")
    up.add_argument("--gpu", choices=GPU_MODES, help="worker GPU tag (default auto)")
    up.add_argument("--data-dir", type=Path, metavar="DIR",
                    help="uploads, outputs and Redis data (default data)")
    up.add_argument("--flower", action="store_true", help="also run Flower on 127.0.0.1")
    up.add_argument("--flower-port", type=port_number, default=5555,
                    help="Flower port (default 5555)")
    up.add_argument("--flower-basic-auth", metavar="USER:PASSWORD",
                    help="Flower's login (visible to other users of this host in ps: prefer "
                         "FFCLUSTER_FLOWER_BASIC_AUTH); unset: a password is generated and "
                         "printed once")
    up.add_argument("--grace", type=float, default=10.0, metavar="SECONDS",
                    help="how long children get to stop before they are killed (default 10)")


def _add_worker(sub: argparse._SubParsersAction) -> None:
    worker = sub.add_parser("worker", help="run one Celery encoding worker",
                            description="Run a Celery worker that probes, encodes and finalizes.")
    worker.add_argument("--gpu", choices=GPU_MODES,
                        help="auto: take GPU work if a hardware encoder works; on; off")
    worker.add_argument("--concurrency", type=positive_int, help="encodes run at once")
    worker.add_argument("--name", dest="worker_name", help="Celery node name prefix")


def _add_web(sub: argparse._SubParsersAction) -> None:
    web = sub.add_parser("web", help="run the web tier (API, Socket.IO, dashboard)",
                         description="Serve the REST API, Socket.IO events and the dashboard.")
    web.add_argument("--host", help="listen address (default 127.0.0.1)")
    web.add_argument("--port", type=port_number, help="listen port (default 5000)")
    web.add_argument("--async-mode", choices=ASYNC_MODES, help="default threading")


def _add_client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="web tier address (default http://FFCLUSTER_HOST:PORT)")
    parser.add_argument("--token", help="API token (default FFCLUSTER_API_TOKEN)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")


JOB_OPTION_ARGS = ("profiles", "mode", "ladder", "target_ssim")
"""The job options ``submit`` and ``watch`` pass through (the API's field names)."""


def _add_job_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profiles", help="comma list of ladder profiles, e.g. 720p,480p")
    parser.add_argument("--mode", choices=("encode", "passthrough"),
                        help="passthrough copies the video stream when it already fits")
    parser.add_argument("--ladder", choices=("fixed", "per-title"),
                        help="per-title: each rung at the lowest bitrate that reaches the "
                             "target SSIM (default: the cluster's FFCLUSTER_LADDER)")
    parser.add_argument("--target-ssim", type=float, metavar="SSIM",
                        help="per-title only: the SSIM each rung aims at, e.g. 0.98")


def job_fields(args: argparse.Namespace) -> dict[str, str]:
    """The job options given on the command line, as the API's text fields."""
    values = {name: getattr(args, name, None) for name in JOB_OPTION_ARGS}
    return {name: str(value) for name, value in values.items() if value is not None}


def _add_submit(sub: argparse._SubParsersAction) -> None:
    submit = sub.add_parser("submit", help="upload videos and optionally wait for them",
                            description="Upload each FILE as a job through POST /api/jobs.")
    submit.add_argument("files", nargs="+", metavar="FILE_OR_URL",
                        help="a local file (uploaded) or an https://, http:// or s3:// URL "
                             "(fetched by a worker)")
    _add_job_options(submit)
    submit.add_argument("--chunk-mb", type=int, default=UPLOAD_CHUNK_MB, metavar="MB",
                        help="bytes per upload request (tus PATCH), for proxies that limit "
                             f"request bodies (default {UPLOAD_CHUNK_MB})")
    submit.add_argument("--resume-file", type=Path, metavar="FILE",
                        help="where unfinished uploads are remembered so that running the "
                             "same command again resumes them (default "
                             "~/.cache/ffcluster/uploads.json)")
    submit.add_argument("--wait", action="store_true",
                        help="show progress per rendition until every job ends; exit 1 if any "
                        "job failed or was canceled")
    _add_client_options(submit)


def _add_watch(sub: argparse._SubParsersAction) -> None:
    watch = sub.add_parser(
        "watch", help="turn every file dropped in a folder into one job",
        description="Watch FOLDER: each file that appears and stops changing becomes one job "
                    "(exactly once, across restarts and renames); with --output-dir its "
                    "renditions are downloaded when it is done.")
    watch.add_argument("folder", type=Path, metavar="FOLDER")
    watch.add_argument("--output-dir", type=Path, metavar="OUT",
                       help="download each done job's renditions to OUT/<path>/<name>/")
    _add_job_options(watch)
    watch.add_argument("--settle", type=float, default=10.0, metavar="S",
                       help="seconds a file must stay unchanged before it is submitted "
                            "(default 10)")
    watch.add_argument("--rescan", type=float, default=60.0, metavar="S",
                       help="seconds between full rescans, the safety net for missed "
                            "notifications (default 60)")
    watch.add_argument("--chunk-mb", type=int, default=UPLOAD_CHUNK_MB, metavar="MB",
                       help=f"bytes per upload request (default {UPLOAD_CHUNK_MB})")
    watch.add_argument("--resume-file", type=Path, metavar="FILE",
                       help="where unfinished uploads are remembered")
    _add_client_options(watch)


def _add_status(sub: argparse._SubParsersAction) -> None:
    status = sub.add_parser("status", help="show workers, queue depths and running jobs",
                            description="Show the cluster as the web tier sees it.")
    _add_client_options(status)


def _add_health(sub: argparse._SubParsersAction) -> None:
    health = sub.add_parser(
        "health", help="exit 0 when the local web tier is alive (a container health check)",
        description="GET /api/live (or /api/ready with --ready) on the web tier of this host "
        "and exit 0 on 200, 1 otherwise; needs nothing but Python.")
    health.add_argument("--ready", action="store_true",
                        help="check readiness (Redis reachable, a worker online) instead")
    health.add_argument("--url", help="web tier address (default http://127.0.0.1:PORT)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ffcluster", description="A distributed video-encoding cluster.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_up, _add_worker, _add_web, _add_submit, _add_watch, _add_status,
                _add_health):
        add(sub)
    return parser
