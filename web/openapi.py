"""The OpenAPI 3 description of the REST API (a test keeps it equal to the real routes)."""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/responses/Error"}
_JOB = {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}
_JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _json(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    body = {"schema": schema or {"type": "object"}}
    return {"description": description, "content": {"application/json": body}}


def _paths() -> dict[str, Any]:
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
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                    {"name": "limit", "in": "query",
                     "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
                ],
                "responses": {"200": _json("A page of jobs with the total count."),
                              "400": _ERROR, "401": _ERROR},
            },
            "post": {
                "summary": "Upload a video and start a job.",
                "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                    "type": "object", "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "profiles": {"type": "string", "description": "Comma list, e.g. 720p,480p"},
                        "mode": {"type": "string", "enum": ["encode", "passthrough"]},
                        "hls": {"type": "boolean",
                                "description": "Also package as HLS (default FFCLUSTER_HLS)."},
                        "quality": {"type": "boolean",
                                    "description": "Measure each rendition's SSIM and PSNR "
                                                   "against the source (default false)."},
                        "chunk_seconds": {
                            "type": "integer", "minimum": 0, "maximum": 3600,
                            "description": "Split-and-stitch chunk length; 0 never chunks; "
                                           "absent: chunk sources over FFCLUSTER_CHUNK_ABOVE_S."},
                    },
                }}}},
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


def openapi_document(server_url: str = "") -> dict[str, Any]:
    """Return the OpenAPI 3.0 document for this API."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "ffcluster", "version": "1",
                 "description": "Distributed video encoding: upload, watch, download."},
        "servers": [{"url": server_url}] if server_url else [],
        "security": [{"bearer": []}],
        "paths": _paths(),
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
