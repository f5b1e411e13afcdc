"""RFC 9457 problem+json for every error the API can answer with.

Services raise :class:`ApiError` subclasses; Werkzeug's HTTP errors (404 routes, 405, 413,
webargs' 400/422) and unexpected exceptions are turned into the same shape here, so a client
has exactly one error format to parse.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import redis
import sqlalchemy.exc
from flask import Flask, Response, g, has_request_context, request
from flask_smorest import Api
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException, InternalServerError

from api.openapi import (
    PROBLEM_MIMETYPE,
    SECURITY_SCHEMES,
    ProblemResponsesPlugin,
    field_rules,
    problem_component_responses,
)
from api.responses import ApiResponse

log = logging.getLogger(__name__)

CODES_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    423: "account_locked",
    429: "rate_limited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
}


class ApiError(Exception):
    """An error a client should see, with a stable machine-readable code."""

    status = 400
    code = "bad_request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        errors: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail or "")
        self.detail = detail
        self.status = status or self.status
        self.code = code or self.code
        self.errors = errors
        self.headers = headers


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class ValidationFailed(ApiError):
    status = 422
    code = "validation_error"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"


class ServiceUnavailable(ApiError):
    status = 503
    code = "service_unavailable"


class ProblemSchema(Schema):
    """The body of every error response (RFC 9457), exactly what `problem()` writes."""

    type = fields.String(required=True, metadata={"example": "about:blank"})
    title = fields.String(required=True, metadata={"example": "Unprocessable Entity"})
    status = fields.Integer(required=True, metadata={"example": 422})
    code = fields.String(
        required=True,
        metadata={"example": "validation_error", "description": "Stable, machine-readable."},
    )
    detail = fields.String(metadata={"description": "For people; may change."})
    instance = fields.String(metadata={"example": "/api/v1/auth/me"})
    errors = fields.Dict(
        keys=fields.String(),
        metadata={"description": "422 only: field name (or location) → messages."},
    )
    request_id = fields.String(metadata={"description": "The X-Request-ID of this answer."})


def problem(
    status: int,
    code: str | None = None,
    detail: str | None = None,
    *,
    errors: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Build a problem+json response."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "code": code or CODES_BY_STATUS.get(status, "error"),
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    if has_request_context():
        body["instance"] = request.path
    request_id = g.get("request_id")
    if request_id:
        body["request_id"] = request_id
    response = ApiResponse(json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _field_errors(data: Mapping[str, Any]) -> dict[str, Any] | None:
    """Flatten webargs' `{"json": {...}, "query": {...}}` into one field → messages map."""
    messages = data.get("messages") or data.get("errors")
    if not isinstance(messages, Mapping):
        return None
    merged: dict[str, Any] = {}
    for location, field_messages in messages.items():
        if isinstance(field_messages, Mapping):
            merged.update(field_messages)
        else:
            merged[location] = field_messages
    return merged


def _detail_for(error: HTTPException, errors: Mapping[str, Any] | None) -> str | None:
    if error.code == 422:
        return "The request has invalid or missing fields; see `errors`."
    if error.code == 400 and errors and "json" in errors:
        return "The request body is not valid JSON."
    return error.description


def handle_http_exception(error: HTTPException) -> Response:
    if error.code is None or error.code >= 500:
        # Werkzeug wraps unexpected exceptions in InternalServerError; never leak details.
        original = getattr(error, "original_exception", None)
        if original is not None:
            log.error("unhandled exception", exc_info=original)
        return problem(error.code or 500)
    data = getattr(error, "data", None) or {}
    errors = _field_errors(data)
    headers = dict(data.get("headers") or {})
    for name, value in error.get_headers():
        if name.lower() not in {"content-type", "content-length"}:
            headers[name] = value
    return problem(
        error.code,
        detail=_detail_for(error, errors),
        errors=errors if error.code == 422 else None,
        headers=headers,
    )


def handle_api_error(error: ApiError) -> Response:
    return problem(
        error.status, error.code, error.detail, errors=error.errors, headers=error.headers
    )


def handle_backing_service_down(error: Exception) -> Response:
    """Redis (cache, revocations, lockout counters) unreachable: a clear 503, not a 500."""
    log.error("backing service unavailable: %s", error)
    return problem(
        503,
        "service_unavailable",
        "A service we depend on is unavailable; try again shortly.",
        headers={"Retry-After": "30"},
    )


# SQLite reports a statement it cannot run (a bug of ours, not an outage) as an
# OperationalError, as it reports a locked or unreadable database; PostgreSQL's drivers raise
# ProgrammingError for those. Told apart by SQLite's own messages.
SQLITE_REFUSED_STATEMENT = ("syntax error", "no such table", "no such column", "has no column")


def statement_refused(error: BaseException) -> bool:
    """An OperationalError that says the statement was wrong, not that the database is away."""
    if not isinstance(error, sqlalchemy.exc.OperationalError):
        return False
    orig = error.orig
    if type(orig).__module__ != "sqlite3":
        return False
    return any(words in str(orig) for words in SQLITE_REFUSED_STATEMENT)


def handle_database_unavailable(error: Exception) -> Response:
    """The database is down or the connection broke: a clear 503 (the pool reconnects). A
    statement the database could not run is a bug: a 500, logged with its traceback."""
    if statement_refused(error):
        return handle_unexpected(error)
    log.error("database unavailable: %s", type(error).__name__)
    return problem(
        503,
        "service_unavailable",
        "The database is unavailable; nothing was saved. Try again shortly.",
        headers={"Retry-After": "5"},
    )


def handle_unstorable_value(error: Exception) -> Response:
    """A value the database refuses (out of range, malformed): the client's input, a 422."""
    log.warning("the database refused a value: %s", type(error).__name__)
    return problem(422, "validation_error", "A value in the request cannot be stored.")


def handle_unexpected(error: Exception) -> Response:
    log.error("unhandled exception", exc_info=error)
    return problem(500)


class ProblemApi(Api):
    """flask-smorest's Api answering with problem+json instead of its own error shape, and
    documenting it: every error response in the spec is problem+json (`api.openapi`)."""

    ERROR_SCHEMA = ProblemSchema

    def __init__(self) -> None:
        super().__init__(spec_kwargs={"extra_plugins": [ProblemResponsesPlugin()]})

    def _init_spec(self, **options: Any) -> None:
        super()._init_spec(**options)
        self.ma_plugin.converter.add_attribute_function(field_rules)

    def _register_responses(self) -> None:
        problem_component_responses(self.spec, self.ERROR_SCHEMA)
        for name, scheme in SECURITY_SCHEMES.items():
            self.spec.components.security_scheme(name, scheme)

    def register_blueprint(self, blp: Any, *, parameters: Any = None, **options: Any) -> None:
        """Only `api.contract.Blueprint`s: their views all declare access and operationIds."""
        if not getattr(blp, "CONTRACT", False):
            raise TypeError(f"{blp.name}: use api.contract.Blueprint, not flask_smorest's")
        super().register_blueprint(blp, parameters=parameters, **options)

    def handle_http_exception(self, error: HTTPException) -> Response:
        return handle_http_exception(error)


def init_app(app: Flask) -> None:
    app.register_error_handler(ApiError, handle_api_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(InternalServerError, handle_http_exception)
    app.register_error_handler(redis.exceptions.ConnectionError, handle_backing_service_down)
    app.register_error_handler(redis.exceptions.TimeoutError, handle_backing_service_down)
    app.register_error_handler(sqlalchemy.exc.OperationalError, handle_database_unavailable)
    app.register_error_handler(sqlalchemy.exc.InterfaceError, handle_database_unavailable)
    app.register_error_handler(sqlalchemy.exc.TimeoutError, handle_database_unavailable)  # pool
    app.register_error_handler(sqlalchemy.exc.DataError, handle_unstorable_value)
    app.register_error_handler(Exception, handle_unexpected)
