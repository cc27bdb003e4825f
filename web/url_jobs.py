"""Jobs whose source is a URL: the JSON body of ``POST /api/jobs`` checked, the job made.

Only what can be judged without the network is checked here (the web tier never
blocks): the scheme, the shape of the URL and the options. Resolving the host and
refusing non-public addresses is the fetching worker's job (``workers/ingest/guard.py``),
and its refusal is a sentence in the job's ``error``.
"""

from __future__ import annotations

import json
import re
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from common.jobs import Job, new_job_id
from web import actions
from web.context import WebContext
from web.errors import ApiError
from web.uploads import display_name, safe_suffix

MAX_BODY_BYTES = 64 * 1024
MAX_URL_LENGTH = 2048
HTTP_URL = r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?([/?#][!-~]*)?"
"""A host name or IPv4 address, an optional port, then visible ASCII: what the API takes
(the same pattern is the OpenAPI document's, so the document and the code agree)."""
S3_URL = r"s3://[a-z0-9][a-z0-9.-]{1,62}/[!-~]+"


def source_url_pattern(storage_kind: str) -> str:
    """The anchored pattern a ``source_url`` must match in this cluster."""
    kinds = [HTTP_URL, S3_URL] if storage_kind == "s3" else [HTTP_URL]
    return "^(" + "|".join(kinds) + ")$"


def checked_source_url(raw: object, storage_kind: str) -> str:
    """Return the URL if its shape can be fetched, else raise a 400 with a sentence."""
    if not isinstance(raw, str) or not raw:
        raise ApiError(400, "source_url must be a URL (https://, http:// or s3://).")
    url = raw
    if len(url) > MAX_URL_LENGTH:
        raise ApiError(400, f"source_url is longer than {MAX_URL_LENGTH} characters.")
    if url.startswith("s3://") and storage_kind != "s3":
        raise ApiError(400, "s3:// sources need the cluster's bucket credentials "
                            "(FFCLUSTER_STORAGE=s3).")
    if not re.fullmatch(source_url_pattern(storage_kind), url):
        raise ApiError(400, "source_url must be an https:// or http:// URL with a host name "
                            "or IPv4 address, in visible ASCII (percent-encode the rest), "
                            "without user:password@" + (", or s3://bucket/key." if
                                                        storage_kind == "s3" else "."))
    return url


def source_name_of(url: str) -> str:
    """What the dashboard calls the source: the URL's last path segment, or its host."""
    parts = urlsplit(url)
    last = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1])
    return display_name(last or parts.hostname or "source")


OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "profiles": (str, list), "mode": (str,), "hls": (bool,), "quality": (bool,),
    "chunk_seconds": (int,), "idempotency_key": (str,), "ladder": (str,),
    "target_ssim": (float, int),
}


def _option(name: str, body: dict[str, Any]) -> str | None:
    """A JSON option as the form parsers read it (None when absent), of the JSON type the
    OpenAPI document gives it: booleans, an integer, a string or a list of profile names."""
    if name not in body:
        return None
    value = body[name]
    wrong_bool = isinstance(value, bool) and bool not in OPTION_TYPES[name]
    names = isinstance(value, list) and all(isinstance(v, str) for v in value)
    if wrong_bool or not isinstance(value, OPTION_TYPES[name]) or (
            isinstance(value, list) and not names):
        raise ApiError(400, f"The field {name!r} has a value of the wrong type.")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(value) or None
    return str(value)


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
    fields = {"source_url", *OPTION_TYPES}
    unknown = sorted(set(body) - fields)
    if unknown:
        raise ApiError(400, f"Unknown field {unknown[0][:40]!r}; the fields are "
                            f"{', '.join(sorted(fields))}.")
    url = checked_source_url(body.get("source_url"), ctx.settings.storage)
    options = actions.job_options(ctx, {name: _option(name, body) for name in OPTION_TYPES})
    job_id = new_job_id()
    return Job(id=job_id, source_name=source_name_of(url),
               source_file=job_id + safe_suffix(source_name_of(url)), source_url=url,
               **options)
