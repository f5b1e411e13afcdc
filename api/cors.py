"""Cross-origin requests from the frontends in CORS_ORIGINS (credentials allowed).

What flask-cors did for this app, in a function of `api.edge`'s one hook that costs an environ
lookup when the request has no Origin (flask-cors cost ~50 µs on every request). Every answer says
`Vary: Origin` (`vary_origin`), so a shared cache never hands one origin's answer to another.
"""

from __future__ import annotations

from flask import Flask, Request, Response

from api.compression import add_vary

EXPOSED = "Location, X-Request-ID, Retry-After, Idempotent-Replayed"
ALLOWED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOWED_HEADERS = (
    "Authorization, Content-Type, Idempotency-Key, If-None-Match, Last-Event-ID, "
    "X-Request-ID, X-Client-Timezone"
)
PREFLIGHT_MAX_AGE = "600"


VARY_ORIGIN = ("Vary", "Origin")


def vary_origin(response: Response) -> tuple[tuple[str, str], ...]:
    """Every answer varies by Origin: the header to append, joined to the Vary a cached answer
    prepared (`ApiResponse.own_vary`), or alone when the answer has no Vary yet (most have
    none); else nothing (`Origin` is joined to the one its headers have)."""
    own_vary = getattr(response, "own_vary", None)
    if own_vary is not None:
        return (("Vary", f"{own_vary}, Origin"),)
    headers = response.headers
    if headers.get("Vary") is None:
        return (VARY_ORIGIN,)
    add_vary(headers, "Origin")
    return ()


def add_cors_headers(response: Response, req: Request, allowed: frozenset[str]) -> Response:
    """Called for every answer by `api.edge` with the request and CORS_ORIGIN_SET."""
    headers = response.headers
    environ = req.environ
    origin = environ.get("HTTP_ORIGIN")
    if origin is None or origin not in allowed:
        return response
    headers["Access-Control-Allow-Origin"] = origin
    headers["Access-Control-Allow-Credentials"] = "true"
    if req.method == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ:
        headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
        headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    else:
        headers["Access-Control-Expose-Headers"] = EXPOSED
    return response


def init_app(app: Flask) -> None:
    """The headers are added by `api.edge`, in its one hook for every answer."""
    app.config["CORS_ORIGIN_SET"] = frozenset(app.config["CORS_ORIGINS"])
