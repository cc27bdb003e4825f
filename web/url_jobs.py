"""Jobs whose source is a URL: the JSON body of ``POST /api/jobs`` checked, the job made.

Only what can be judged without the network is checked here (the web tier never
blocks): the scheme, the shape of the URL and the options. Resolving the host and
refusing non-public addresses is the fetching worker's job (``workers/ingest/guard.py``),
and its refusal is a sentence in the job's ``error``.
"""

from __future__ import annotations

import json
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from common.jobs import Job, new_job_id
from web import actions
from web.context import WebContext
from web.errors import ApiError
from web.uploads import display_name, safe_suffix

MAX_BODY_BYTES = 64 * 1024
MAX_URL_LENGTH = 2048
URL_SCHEMES = ("https", "http", "s3")
FIELDS = frozenset({"source_url", "profiles", "mode", "hls", "quality", "chunk_seconds"})


def checked_source_url(raw: object, storage_kind: str) -> str:
    """Return the URL if its shape can be fetched, else raise a 400 with a sentence."""
    if not isinstance(raw, str) or not raw.strip():
        raise ApiError(400, "source_url must be a URL (https://, http:// or s3://).")
    url = raw.strip()
    if len(url) > MAX_URL_LENGTH or any(ch.isspace() or not ch.isprintable() for ch in url):
        raise ApiError(400, f"source_url must be one line of at most {MAX_URL_LENGTH} "
                            "characters without spaces.")
    parts = urlsplit(url)
    if parts.scheme not in URL_SCHEMES:
        raise ApiError(400, "source_url must start with https://, http:// or s3://.")
    if parts.scheme == "s3" and storage_kind != "s3":
        raise ApiError(400, "s3:// sources need the cluster's bucket credentials "
                            "(FFCLUSTER_STORAGE=s3).")
    try:
        parts.port  # noqa: B018 (raises for a port that is not a number)
    except ValueError:
        raise ApiError(400, "source_url has a port that is not a number from 1 to 65535.") \
            from None
    if not parts.hostname or (parts.scheme == "s3" and len(parts.path) < 2):
        raise ApiError(400, "source_url must name a host (or, for s3://, a bucket and a key).")
    return url


def source_name_of(url: str) -> str:
    """What the dashboard calls the source: the URL's last path segment, or its host."""
    parts = urlsplit(url)
    last = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1])
    return display_name(last or parts.hostname or "source")


def _text(name: str, value: Any) -> str | None:
    """A JSON option as the form parsers read it: strings as they are, numbers and booleans
    spelled out, lists of names joined."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if name == "profiles" and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    raise ApiError(400, f"The field {name!r} has a value of the wrong type.")


def read_json_body(stream: IO[bytes]) -> Any:
    """The request's JSON, read from at most ``MAX_BODY_BYTES`` (413 past that)."""
    raw = stream.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, f"A JSON job description is at most {MAX_BODY_BYTES // 1024} KiB.")
    try:
        return json.loads(raw)
    except ValueError:  # also bytes that are not UTF-8
        raise ApiError(400, "The body is not valid JSON.") from None


def url_job(ctx: WebContext, body: Any) -> Job:
    """The job a JSON body asks for (not yet stored), or a 400 with a sentence."""
    if not isinstance(body, dict):
        raise ApiError(400, "The JSON body must be an object with a source_url.")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise ApiError(400, f"Unknown field {unknown[0][:40]!r}; the fields are "
                            f"{', '.join(sorted(FIELDS))}.")
    url = checked_source_url(body.get("source_url"), ctx.settings.storage)
    options = {name: _text(name, body.get(name)) for name in FIELDS - {"source_url"}}
    job_id = new_job_id()
    return Job(
        id=job_id, source_name=source_name_of(url),
        source_file=job_id + safe_suffix(source_name_of(url)), source_url=url,
        requested_profiles=actions.parse_profiles(ctx, options["profiles"]),
        mode=actions.parse_mode(options["mode"]),
        hls=actions.parse_flag("hls", options["hls"], ctx.settings.hls),
        quality=actions.parse_flag("quality", options["quality"], False),
        chunk_seconds=actions.parse_chunk_seconds(options["chunk_seconds"]))
