"""Request guards for a browser-facing API: the Host check, cross-site refusal, headers.

With no API token set (the default) the only thing between a hostile web page and the
cluster is the browser's same-origin policy. Three holes in it are closed here: DNS
rebinding (a page whose name resolves to this host: checked by ``Host``), cross-site
form posts (``no-cors`` requests still run: checked by ``Origin``/``Sec-Fetch-Site``), and
framing (clickjacking of Cancel and Retry: ``frame-ancestors``).
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from flask import Flask, Response, g, request

from common.settings import Settings
from web.errors import ApiError

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSP = ("default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self'; "
       "img-src 'self' data: blob:; media-src 'self' blob:; worker-src 'self' blob:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")


def host_name(host: str) -> str:
    """``Host`` without its port, lower case (``[::1]:5000`` -> ``[::1]``)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def host_allowed(settings: Settings, host: str | None) -> bool:
    allowed = settings.host_names
    return not allowed or (bool(host) and host_name(str(host)) in allowed)


def same_origin(origin: str, host: str) -> bool:
    """Whether an ``Origin`` header names the site the request was sent to."""
    if origin == "null":
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.strip().lower()


def check_request(settings: Settings) -> None:
    """Refuse other hosts' names and cross-site state changes, before any route runs."""
    if not host_allowed(settings, request.host):
        raise ApiError(421, "This server does not answer to that host name; add it to "
                       "FFCLUSTER_ALLOWED_HOSTS if it is really this cluster's.")
    if request.method not in STATE_CHANGING:
        return
    origin = request.headers.get("Origin")
    if origin is not None and not same_origin(origin, request.host):
        raise ApiError(403, "Requests from another web site may not change anything here.")
    if origin is None and request.headers.get("Sec-Fetch-Site") == "cross-site":
        raise ApiError(403, "Requests from another web site may not change anything here.")


def csp_nonce() -> str:
    """The nonce of this response's one inline script (the dashboard's configuration)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return str(g.csp_nonce)


def security_headers(response: Response) -> Response:
    """No MIME sniffing, no token in Referer, no framing, scripts only from this origin."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Content-Security-Policy", CSP.format(nonce=csp_nonce()))
    return response


def install(app: Flask, settings: Settings) -> None:
    app.before_request(lambda: check_request(settings))
    app.after_request(security_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.url_map.merge_slashes = False  # `//x` must not redirect through the Host header
