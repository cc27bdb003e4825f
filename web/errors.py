"""JSON errors: every failure answers ``{"error": "<a sentence>"}``, never an HTML page."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

SENTENCES = {
    400: "The request is malformed.",
    401: "This API needs a valid token: send 'Authorization: Bearer <token>'.",
    403: "This request is not allowed.",
    404: "Nothing exists at this address.",
    405: "This address does not accept that HTTP method.",
    409: "The request conflicts with the job's current state.",
    413: "The upload is larger than this cluster accepts.",
    415: "The request body has an unsupported content type.",
    429: "Too many requests; slow down.",
    507: "The server has no space left to store this.",
    500: "The server failed to handle this request; the error was logged.",
    503: "A service the web tier needs is unavailable; try again shortly.",
}


class ApiError(HTTPException):
    """An HTTP error whose ``description`` is the sentence the client sees."""

    def __init__(self, code: int, sentence: str) -> None:
        super().__init__(description=sentence)
        self.code = code


def error_response(code: int, sentence: str | None = None) -> tuple[Response, int]:
    """Return the JSON error body and status for ``code``."""
    return jsonify(error=sentence or SENTENCES.get(code, "The request failed.")), code


def _sentence(exc: HTTPException) -> str:
    if isinstance(exc, ApiError) and exc.description:
        return exc.description
    code = exc.code or 500
    return SENTENCES.get(code) or (exc.description or "The request failed.")


def register_error_handlers(app: Flask) -> None:
    """Answer every HTTP error and every unexpected exception with JSON."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        code = exc.code or 500
        response, status = error_response(code, _sentence(exc))
        if code == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="ffcluster"'
        valid_methods = getattr(exc, "valid_methods", None)
        if code == 405 and valid_methods:
            response.headers["Allow"] = ", ".join(valid_methods)
        return response, status

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Response, int]:
        if isinstance(exc, HTTPException):
            return http_error(exc)
        log.exception("unhandled error", exc_info=exc)
        return error_response(InternalServerError.code)
