"""Request ids, structured log lines and the response headers every answer carries."""

from __future__ import annotations

import logging
import re
import secrets

from flask import Flask, Response, g, has_request_context, request

from api import redaction

REQUEST_ID_HEADER = "X-Request-ID"
ACCEPTABLE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "geolocation=(), microphone=(), camera=()",
}


SECURITY_PAIRS = tuple(SECURITY_HEADERS.items())


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    redaction.install(root)


def _assign_request_id() -> None:
    incoming = request.headers.get(REQUEST_ID_HEADER)
    acceptable = incoming is not None and ACCEPTABLE_REQUEST_ID.match(incoming)
    g.request_id = incoming if acceptable else secrets.token_hex(8)


def _add_headers(response: Response) -> Response:
    # `extend` adds without first looking for an existing header of the name (`update` does).
    response.headers.extend(((REQUEST_ID_HEADER, g.get("request_id", "")), *SECURITY_PAIRS))
    return response


def init_app(app: Flask) -> None:
    app.before_request(_assign_request_id)
    app.after_request(_add_headers)
