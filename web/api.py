"""The REST API blueprint; its paths and JSON are a contract the CLI and external tests use."""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from common.idempotency import IdempotencyKeys
from common.jobs import Job, is_job_id, new_job_id
from common.registry import list_workers
from common.storage import output_key
from web import actions
from web.auth import require_token
from web.context import web_context
from web.downloads import serve_output
from web.errors import ApiError
from web.openapi import OFFSET_MAX, PAGE_DEFAULT, PAGE_MAX, openapi_document
from web.uploads import body_stream, receive_upload
from web.url_jobs import read_json_body, url_job

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api")

PUBLIC_ENDPOINTS = frozenset({"api.health", "api.live", "api.ready"})
QUERY_TOKEN_ENDPOINTS = frozenset({"api.download_output"})


@bp.before_request
def check_token() -> None:
    """Require the API token on every route but the health check."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    require_token(
        web_context().settings.api_token, allow_query=request.endpoint in QUERY_TOKEN_ENDPOINTS
    )


def _job_or_404(job_id: str) -> Job:
    job = web_context().store.get(job_id) if is_job_id(job_id) else None
    if job is None:
        raise ApiError(404, f"No job has the id {job_id!r}.")
    return job


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"The query parameter {name!r} must be a whole number.") from None
    if not low <= value <= high:
        raise ApiError(400, f"The query parameter {name!r} must be between {low} and {high}.")
    return value


@bp.get("/health")
def health() -> tuple[Response, int]:
    """Answer in milliseconds whatever the workers do: Redis reachability and workers online."""
    ctx = web_context()
    started = time.perf_counter()
    body: dict[str, Any] = {"status": "ok", "redis": True, "async_mode": ctx.settings.async_mode}
    try:
        ctx.health_redis.ping()
        body["redis_ms"] = round((time.perf_counter() - started) * 1000, 2)
        body["workers_online"] = len(list_workers(ctx.health_redis, include_offline=False))
        if (warning := ctx.redis_eviction.warning()) is not None:
            body["redis_warning"] = warning
    except Exception as exc:  # any Redis failure is reported, never raised
        log.warning("health check: Redis does not answer: %s", exc)
        body.update(status="degraded", redis=False, workers_online=None,
                    error="Redis does not answer.")
        return jsonify(body), 503
    return jsonify(body), 200


@bp.get("/live")
def live() -> Response:
    """Liveness: this process serves requests (touches nothing else, so a Redis blip never
    makes an orchestrator restart a healthy web tier)."""
    return jsonify(status="alive", async_mode=web_context().settings.async_mode)


@bp.get("/ready")
def ready() -> tuple[Response, int]:
    """Readiness to take jobs: Redis answers and at least one worker is online, or why not."""
    response, status = health()
    body = response.get_json()
    if status == 200 and not body.get("workers_online"):
        body.update(status="no workers", error="No worker is online to encode jobs.")
        return jsonify(body), 503
    return jsonify(body), status


@bp.get("/profiles")
def profiles() -> Response:
    return jsonify(profiles=[p.to_dict() for p in web_context().ladder])


@bp.post("/jobs")
def create_job() -> tuple[Response, int]:
    """Stream the upload to the uploads dir, record the job and enqueue its probe; or, for
    a JSON body with ``source_url``, record the job and enqueue the fetch of its source."""
    ctx = web_context()
    if request.mimetype == "application/json":
        job = url_job(ctx, read_json_body(body_stream()))
        existing = actions.existing_job(ctx, job)
        if existing is not None:  # that idempotency key already made a job: answer it
            return jsonify(existing.to_dict()), 200
        return jsonify(actions.submit(ctx, job).to_dict()), 202
    limit = ctx.settings.max_upload_mb * 1024 * 1024
    if request.content_length is not None and request.content_length > limit + 1024 * 1024:
        raise ApiError(413, f"The upload is larger than {ctx.settings.max_upload_mb} MiB.")
    job_id = new_job_id()
    try:
        upload = receive_upload(body_stream(), request.content_type, ctx.storage, job_id, limit)
    except RequestEntityTooLarge:
        raise ApiError(
            413, f"The upload is larger than {ctx.settings.max_upload_mb} MiB."
        ) from None
    try:
        options = actions.job_options(ctx, upload.fields)
    except ApiError:
        upload.discard()
        raise
    job = Job(id=job_id, source_name=upload.original_name, source_file=upload.file_name,
              size_bytes=upload.size, **options)
    existing = actions.existing_job(ctx, job)
    if existing is not None:
        upload.discard()
        return jsonify(existing.to_dict()), 200
    actions.submit(ctx, job)
    return jsonify(job.to_dict()), 202


def _job_with_key(raw: str) -> list[Job]:
    ctx = web_context()
    key = actions.parse_idempotency_key(raw)
    owner = IdempotencyKeys(ctx.redis).owner(key) if key else None
    job = ctx.store.get(owner) if owner else None
    return [job] if job is not None else []


@bp.get("/jobs")
def list_jobs() -> Response:
    offset = _int_arg("offset", 0, 0, OFFSET_MAX)
    limit = _int_arg("limit", PAGE_DEFAULT, 1, PAGE_MAX)
    if "idempotency_key" in request.args:  # the one job a key made, if any
        found = _job_with_key(request.args["idempotency_key"])
        return jsonify(jobs=[j.to_dict() for j in found], total=len(found), offset=0,
                       limit=limit)
    jobs, total = web_context().store.list(offset=offset, limit=limit)
    return jsonify(jobs=[j.to_dict() for j in jobs], total=total, offset=offset, limit=limit)


@bp.get("/jobs/<job_id>")
def get_job(job_id: str) -> Response:
    return jsonify(_job_or_404(job_id).to_dict())


@bp.delete("/jobs/<job_id>")
def cancel_job(job_id: str) -> Response:
    _job_or_404(job_id)
    return jsonify(actions.cancel(web_context(), job_id).to_dict())


@bp.post("/jobs/<job_id>/retry")
def retry_job(job_id: str) -> tuple[Response, int]:
    _job_or_404(job_id)
    return jsonify(actions.retry(web_context(), job_id).to_dict()), 202


@bp.get("/jobs/<job_id>/outputs/<path:name>")
def download_output(job_id: str, name: str) -> Response:
    """Serve a finished output with range requests; never temp files or paths outside."""
    _job_or_404(job_id)
    parts = name.replace("\\", "/").split("/")
    if any(not part or part.startswith(".") for part in parts):
        raise ApiError(404, f"Job {job_id} has no output named {name!r}.")
    response = serve_output(web_context().storage, output_key(job_id, "/".join(parts)),
                            attachment=request.args.get("download") == "1")
    if response is None:
        raise ApiError(404, f"Job {job_id} has no output named {name!r}.")
    return response


@bp.get("/workers")
def workers() -> Response:
    found = list_workers(web_context().redis)
    return jsonify(workers=[w.to_dict() for w in found])


@bp.get("/openapi.json")
def openapi() -> Response:
    ctx = web_context()
    return jsonify(openapi_document(request.host_url.rstrip("/"), ctx.profile_names,
                                    ctx.settings.storage, ctx.settings.max_upload_mb))
