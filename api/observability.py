"""Request ids and the response headers every answer carries."""

from __future__ import annotations

import re
import secrets

import structlog
from flask import Flask, Response, g, request

REQUEST_ID_HEADER = "X-Request-ID"
ACCEPTABLE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "geolocation=(), microphone=(), camera=()",
}


SECURITY_PAIRS = tuple(SECURITY_HEADERS.items())


def _assign_request_id() -> None:
    incoming = request.headers.get(REQUEST_ID_HEADER)
    acceptable = incoming is not None and ACCEPTABLE_REQUEST_ID.match(incoming)
    g.request_id = incoming if acceptable else secrets.token_hex(8)
    # Every log line of this request, and every job it submits, carries it (api.logs).
    structlog.contextvars.bind_contextvars(request_id=g.request_id)


def _add_headers(response: Response) -> Response:
    # `extend` adds without first looking for an existing header of the name (`update` does).
    response.headers.extend(((REQUEST_ID_HEADER, g.get("request_id", "")), *SECURITY_PAIRS))
    return response


def init_app(app: Flask) -> None:
    app.before_request(_assign_request_id)
    app.after_request(_add_headers)
