"""The OpenAPI 3 description of the REST API (a test keeps it equal to the real routes)."""

from __future__ import annotations

import re
from typing import Any

from common.settings import FALSE_WORDS, TRUE_WORDS

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


def _url_job_schema(profile_names: list[str]) -> dict[str, Any]:
    """A job whose source a worker fetches from a URL (the SSRF guard runs there)."""
    return {
        "type": "object", "required": ["source_url"], "additionalProperties": False,
        "properties": {
            "source_url": {"type": "string", "maxLength": 2048,
                           "pattern": r"^(https?://[^\s/?#@]+|s3://[^\s/?#]+/\S+)\S*$",
                           "description": "https://, http:// or (with s3 storage) "
                                          "s3://bucket/key."},
            "profiles": _profiles_field(profile_names),
            "mode": {"type": "string", "enum": ["", "encode", "passthrough"]},
            "hls": {"type": "boolean"}, "quality": {"type": "boolean"},
            "chunk_seconds": {"type": "integer", "minimum": 0, "maximum": 3600},
        },
    }


def _paths(profile_names: list[str]) -> dict[str, Any]:
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
                    },
                }}, "application/json": {"schema": _url_job_schema(profile_names)}}},
                "responses": {"202": {"description": "Job accepted.", "content": _JOB},
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


def openapi_document(server_url: str = "", profile_names: list[str] | None = None
                     ) -> dict[str, Any]:
    """Return the OpenAPI 3.0 document for this cluster's API (its profiles named)."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "ffcluster", "version": "1",
                 "description": "Distributed video encoding: upload, watch, download."},
        "servers": [{"url": server_url}] if server_url else [],
        "security": [{"bearer": []}],
        "paths": _with_unauthorized(_paths(profile_names or [])),
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
                },
            }},
        },
    }
