"""The OpenAPI 3 description of the REST API (a test keeps it equal to the real routes)."""

from __future__ import annotations

import re
from typing import Any

from common.settings import FALSE_WORDS, TRUE_WORDS
from web.tus_headers import MAX_OFFSET_DIGITS, METADATA_PATTERN
from web.url_jobs import MAX_URL_LENGTH, source_url_pattern

PAGE_DEFAULT = 50
PAGE_MAX = 200
OFFSET_MAX = 10**9

_ERROR = {"$ref": "#/components/responses/Error"}
_JOB = {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}
_JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _json(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    body = {"schema": schema or {"type": "object"}}
    return {"description": description, "content": {"application/json": body}}


def _flag(description: str) -> dict[str, Any]:
    """A true/false form field, spelled as the web tier reads it (empty: the default)."""
    return {"type": "string", "enum": ["", *TRUE_WORDS, *FALSE_WORDS],
            "description": f"{description} Case does not matter."}


def _profiles_field(profile_names: list[str]) -> dict[str, Any]:
    """A comma list of this cluster's profile names; empty picks the whole ladder."""
    name = "|".join(re.escape(n) for n in profile_names) or "(?!)"
    return {"type": "string", "pattern": rf"^(\s*({name})?\s*)(,\s*({name})?\s*)*$",
            "description": "Comma list of this cluster's profiles, e.g. "
                           f"{','.join(profile_names[:2]) or '720p,480p'}; empty: all."}


_IDEMPOTENCY_KEY = {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{0,128}$",
                    "description": "Your name for this source: a second job with the same "
                                   "key is not made (the first one is answered, 200); "
                                   "empty: none."}


_LADDER = {"type": "string", "enum": ["", "fixed", "per-title"],
           "description": "fixed: every rung at its profile's bitrate; per-title: each rung "
                          "at the lowest bitrate that reaches target_ssim (measured on "
                          "samples, verified on the result). Empty: FFCLUSTER_LADDER."}
_TARGET_SSIM = {"minimum": 0.5, "maximum": 1, "exclusiveMaximum": True,
                "description": "The SSIM each per-title rung aims at (default "
                               "FFCLUSTER_TARGET_SSIM); given without ladder it makes the job "
                               "per-title; a fixed job does not use it."}


def _url_job_schema(profile_names: list[str], storage_kind: str) -> dict[str, Any]:
    """A job whose source a worker fetches from a URL (the SSRF guard runs there)."""
    return {
        "type": "object", "required": ["source_url"], "additionalProperties": False,
        "properties": {
            "source_url": {"type": "string", "maxLength": MAX_URL_LENGTH,
                           "pattern": source_url_pattern(storage_kind),
                           "description": "https:// or http://, or (with s3 storage) "
                                          "s3://bucket/key."},
            "profiles": {"anyOf": [_profiles_field(profile_names), {
                "type": "array", "items": {"type": "string", "enum": profile_names}}]},
            "mode": {"type": "string", "enum": ["", "encode", "passthrough"]},
            "hls": {"type": "boolean"}, "quality": {"type": "boolean"},
            "chunk_seconds": {"type": "integer", "minimum": 0, "maximum": 3600},
            "idempotency_key": _IDEMPOTENCY_KEY,
            "ladder": _LADDER, "target_ssim": {**_TARGET_SSIM, "type": "number"},
        },
    }


_TUS = {"name": "Tus-Resumable", "in": "header", "required": True,
        "schema": {"type": "string", "enum": ["1.0.0"]}}
_UPLOAD_ID = {"name": "upload_id", "in": "path", "required": True, "schema": {"type": "string"}}
_TUS_DONE = {"description": "Done; the tus headers say where the upload stands."}


def _header(name: str, schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": required, "schema": schema}


def _tus_paths(max_upload_bytes: int) -> dict[str, Any]:
    """tus 1.0 resumable uploads (core, creation, termination, checksum, expiration)."""
    return {
        "/api/uploads": {
            "options": {"summary": "tus discovery: version, extensions, largest upload.",
                        "responses": {"204": _TUS_DONE}},
            "post": {
                "summary": "Create a resumable upload; answers its Location (tus creation).",
                "parameters": [
                    _TUS, _header("Upload-Length", {"type": "integer", "minimum": 1,
                                                     "maximum": max_upload_bytes}),
                    _header("Upload-Metadata", {"type": "string", "maxLength": 4096,
                                                "pattern": METADATA_PATTERN,
                            "description": "filename and job options (profiles, mode, hls, "
                                           "quality, chunk_seconds, ladder, target_ssim), "
                                           "each base64"}, False)],
                "responses": {"201": {"description": "Created; see Location."},
                              "400": _ERROR, "403": _ERROR, "412": _ERROR, "413": _ERROR,
                              "503": _ERROR},
            },
        },
        "/api/uploads/{upload_id}": {
            "parameters": [_UPLOAD_ID],
            "head": {"summary": "How many bytes arrived (Upload-Offset); FFcluster-Job-Id "
                                "once the upload became a job.",
                     "parameters": [_TUS],
                     "responses": {"200": _TUS_DONE, "404": {"description": "No such upload."},
                                   "412": {"description": "Wrong tus version."}}},
            "patch": {
                "summary": "Append bytes at Upload-Offset; the last byte starts the job.",
                "parameters": [
                    _TUS, _header("Upload-Offset", {"type": "integer", "minimum": 0,
                                                    "maximum": 10**MAX_OFFSET_DIGITS - 1}),
                    _header("Upload-Checksum", {"type": "string"}, False)],
                "requestBody": {"required": True, "content": {
                    "application/offset+octet-stream": {"schema": {"type": "string",
                                                                    "format": "binary"}}}},
                "responses": {"204": _TUS_DONE, "400": _ERROR, "403": _ERROR, "404": _ERROR,
                              "409": _ERROR, "412": _ERROR, "415": _ERROR, "423": _ERROR,
                              "460": _ERROR, "503": _ERROR, "507": _ERROR},
            },
            "delete": {"summary": "Terminate an upload and remove its bytes (tus termination).",
                       "parameters": [_TUS],
                       "responses": {"204": _TUS_DONE, "403": _ERROR, "404": _ERROR,
                                     "412": _ERROR}},
        },
    }


def _paths(profile_names: list[str], storage_kind: str) -> dict[str, Any]:
    job_ok = {"description": "The job JSON.", "content": _JOB}
    return {
        "/api/health": {"get": {
            "summary": "Redis reachability and workers online (the dashboard's check).",
            "security": [],
            "responses": {"200": _json("Healthy."), "503": _json("Redis does not answer.")},
        }},
        "/api/live": {"get": {
            "summary": "Liveness: the process serves requests; touches nothing else.",
            "security": [],
            "responses": {"200": _json("Alive.")},
        }},
        "/api/ready": {"get": {
            "summary": "Readiness to take jobs: Redis answers and a worker is online.",
            "security": [],
            "responses": {"200": _json("Ready."),
                          "503": _json("Not ready, with the reason in `error`.")},
        }},
        "/api/profiles": {"get": {
            "summary": "The encoding ladder this cluster offers.",
            "responses": {"200": _json("Profiles."), "401": _ERROR},
        }},
        "/api/jobs": {
            "get": {
                "summary": "List jobs, newest first.",
                "parameters": [
                    {"name": "offset", "in": "query", "schema": {
                        "type": "integer", "minimum": 0, "maximum": OFFSET_MAX}},
                    {"name": "limit", "in": "query", "schema": {
                        "type": "integer", "minimum": 1, "maximum": PAGE_MAX,
                        "default": PAGE_DEFAULT}},
                    {"name": "idempotency_key", "in": "query", "schema": _IDEMPOTENCY_KEY,
                     "description": "Only the job this key made (an empty list if none)."},
                ],
                "responses": {"200": _json("A page of jobs with the total count."),
                              "400": _ERROR, "401": _ERROR},
            },
            "post": {
                "summary": "Upload a video (multipart) or name its URL (JSON) and start a job.",
                "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                    "type": "object", "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "minLength": 1},
                        "profiles": _profiles_field(profile_names),
                        "mode": {"type": "string", "enum": ["", "encode", "passthrough"],
                                 "description": "Empty: encode."},
                        "hls": _flag("Also package as HLS (default FFCLUSTER_HLS)."),
                        "quality": _flag("Measure each rendition's SSIM and PSNR against the "
                                         "source (default false)."),
                        "chunk_seconds": {
                            "type": "integer", "minimum": 0, "maximum": 3600,
                            "description": "Split-and-stitch chunk length; 0 never chunks; "
                                           "absent: chunk sources over FFCLUSTER_CHUNK_ABOVE_S."},
                        "idempotency_key": _IDEMPOTENCY_KEY,
                        "ladder": _LADDER, "target_ssim": {**_TARGET_SSIM, "type": "number"},
                    },
                }}, "application/json": {"schema": _url_job_schema(profile_names, storage_kind)}}},
                "responses": {"202": {"description": "Job accepted.", "content": _JOB},
                              "200": {"description": "The job its idempotency key made "
                                                     "before.", "content": _JOB},
                              "400": _ERROR, "401": _ERROR, "403": _ERROR, "413": _ERROR,
                              "503": _ERROR, "507": _ERROR},
            },
        },
        "/api/jobs/{job_id}": {
            "parameters": [_JOB_ID],
            "get": {"summary": "One job.", "responses": {"200": job_ok, "404": _ERROR}},
            "delete": {"summary": "Cancel a job; workers stop within a second.",
                       "responses": {"200": job_ok, "404": _ERROR, "409": _ERROR}},
        },
        "/api/jobs/{job_id}/retry": {
            "parameters": [_JOB_ID],
            "post": {"summary": "Retry a failed or canceled job, keeping finished renditions.",
                     "responses": {"202": job_ok, "404": _ERROR, "409": _ERROR}},
        },
        "/api/jobs/{job_id}/outputs/{name}": {
            "parameters": [_JOB_ID, {"name": "name", "in": "path", "required": True,
                                     "schema": {"type": "string"}}],
            "get": {
                "summary": "Download an output; supports Range requests and ?token=.",
                "security": [{"bearer": []}, {"query_token": []}],
                "responses": {"200": {"description": "The file."},
                              "206": {"description": "Part of the file."}, "404": _ERROR},
            },
        },
        "/api/workers": {"get": {
            "summary": "Workers: online ones, then recently seen offline ones.",
            "responses": {"200": _json("Workers."), "401": _ERROR},
        }},
        "/api/openapi.json": {"get": {
            "summary": "This document.", "responses": {"200": _json("OpenAPI 3.")},
        }},
    }


def _with_unauthorized(paths: dict[str, Any]) -> dict[str, Any]:
    """Document the 401 of every operation the token guards (all but ``security: []``)."""
    for item in paths.values():
        for method, operation in item.items():
            if method != "parameters" and operation.get("security") != []:
                operation["responses"].setdefault("401", _ERROR)
    return paths


def openapi_document(server_url: str = "", profile_names: list[str] | None = None,
                     storage_kind: str = "local", max_upload_mb: int = 4096) -> dict[str, Any]:
    """Return the OpenAPI 3.0 document for this cluster's API (its profiles named)."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "ffcluster", "version": "1",
                 "description": "Distributed video encoding: upload, watch, download."},
        "servers": [{"url": server_url}] if server_url else [],
        "security": [{"bearer": []}],
        "paths": _with_unauthorized({**_paths(profile_names or [], storage_kind),
                                     **_tus_paths(max_upload_mb * 1024 * 1024)}),
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "query_token": {"type": "apiKey", "in": "query", "name": "token"},
            },
            "responses": {"Error": _json("An error sentence.", {
                "type": "object", "required": ["error"],
                "properties": {"error": {"type": "string"}},
            })},
            "schemas": {"Job": {
                "type": "object", "required": ["id", "state", "renditions"],
                "properties": {
                    "id": {"type": "string"}, "state": {"type": "string"},
                    "source_name": {"type": "string"}, "percent": {"type": "number"},
                    "renditions": {"type": "array", "items": {"type": "object"}},
                    "ladder": {"type": "string", "enum": ["fixed", "per-title"]},
                    "per_title": {"type": ["object", "null"],
                                  "description": "The analysis of a per-title job: per rung "
                                                 "its sample points, chosen bitrate, predicted "
                                                 "and measured SSIM, or why it was dropped."},
                },
            }},
        },
    }
