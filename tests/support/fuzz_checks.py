"""A schemathesis check and serializer of our own, loaded by ``SCHEMATHESIS_HOOKS`` in the
fuzz runs."""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis.core.parameters import ParameterLocation

# A tus PATCH body is raw bytes, sent as application/offset+octet-stream.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")


def _guarded(case: Any) -> bool:
    """Whether the operation needs the token (every one but those with ``security: []``)."""
    raw = case.operation.schema.raw_schema
    operation = raw["paths"][case.operation.path][case.operation.method.lower()]
    return operation.get("security", raw.get("security")) != []


def _has_credentials(request: Any) -> bool:
    return bool(request.headers.get("Authorization")) or "token=" in (request.url or "")


@schemathesis.check
def anonymous_requests_get_401(ctx: Any, response: Any, case: Any) -> bool | None:
    """A guarded operation asked without any credentials answers 401, whatever the input."""
    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.PATH):
        return None  # a malformed path may match no route at all: a 404 says nothing of auth
    if case.method.upper() != case.operation.method.upper():
        return None  # the unsupported-method probe: routing answers 405 before any auth
    if not _guarded(case) or _has_credentials(response.request):
        return None
    if response.status_code != 401:
        raise AssertionError(f"{case.method} {case.operation.path} answered "
                             f"{response.status_code} to a request without credentials")
    return True
