"""The optional API token: Bearer header, ``?token=`` for downloads, Socket.IO ``auth``."""

from __future__ import annotations

import hmac
from typing import Any

from flask import request

from web.errors import ApiError


def token_matches(expected: str | None, given: Any) -> bool:
    """Return True when no token is configured or ``given`` equals it (constant time)."""
    if not expected:
        return True
    if not isinstance(given, str) or not given:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def require_token(expected: str | None, *, allow_query: bool = False) -> None:
    """Raise a 401 :class:`ApiError` unless the request carries the configured token."""
    if not expected:
        return
    given = bearer_token()
    if given is None and allow_query:
        given = request.args.get("token")
    if not token_matches(expected, given):
        raise ApiError(401, "This API needs a valid token: send 'Authorization: Bearer <token>'.")


def socket_token(auth: Any) -> str | None:
    """Return the token a Socket.IO client sent in its ``auth`` payload."""
    if isinstance(auth, dict):
        value = auth.get("token")
        return value if isinstance(value, str) else None
    return None
