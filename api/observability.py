"""Request ids and the response headers every answer carries."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import Any

from flask import Flask

REQUEST_ID_HEADER = "X-Request-ID"
ACCEPTABLE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "geolocation=(), microphone=(), camera=()",
}
SECURITY_PAIRS = tuple(SECURITY_HEADERS.items())
# Production only: a browser keeps it for a year, for the host and its subdomains, and a
# development or test host may well need plain HTTP.
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
CSP = "Content-Security-Policy"
# JSON, media and streams need nothing from a page: a body that a browser renders anyway
# (an error page, a hostile upload) can load, run and frame nothing.
API_CSP = "default-src 'none'; frame-ancestors 'none'"

HeaderPairs = tuple[tuple[str, str], ...]


def request_id_for(environ: Mapping[str, Any]) -> str:
    """The client's X-Request-ID when it is a sane token, else a new one."""
    incoming = environ.get("HTTP_X_REQUEST_ID")
    if incoming is not None and ACCEPTABLE_REQUEST_ID.match(incoming):
        return str(incoming)
    # 64 random bits: unique enough to find a request's lines, and not a secret (the client
    # sees it and may choose it), so not worth a system call per request (`secrets` makes one).
    return f"{random.getrandbits(64):016x}"


def set_page_policy(app: Flask, endpoint: str, policy: str) -> None:
    """Answers of `endpoint` carry `policy` as their CSP instead of API_CSP (the docs pages)."""
    base, pages = app.extensions["security_headers"]
    pages[endpoint] = (*base, (CSP, policy))


def init_app(app: Flask) -> None:
    # Every answer's headers are built here once: a request pays one dict lookup and a tuple.
    base: HeaderPairs = SECURITY_PAIRS + ((HSTS,) if app.config["APP_ENV"] == "production" else ())
    default: HeaderPairs = (*base, (CSP, API_CSP))
    pages: dict[str | None, HeaderPairs] = {}
    app.extensions["security_headers"] = (base, pages)

    app.extensions["default_headers"] = default


def headers_for(app: Flask, endpoint: str | None, request_id: str) -> HeaderPairs:
    """Every answer's request id and security headers (added by `api.edge`). The request id is
    a sane token by construction (`request_id_for`); the rest are constants."""
    _base, pages = app.extensions["security_headers"]
    pairs: HeaderPairs = pages.get(endpoint) or app.extensions["default_headers"]
    return ((REQUEST_ID_HEADER, request_id), *pairs)
