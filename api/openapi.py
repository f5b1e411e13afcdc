"""What the OpenAPI document says beyond flask-smorest's defaults, each said in one place.

* Access: every operation declares who may call it (`api.security`'s decorators build an
  :class:`Access`); `api.contract.Blueprint` copies it into the operation's `security` and
  refuses a view without one. The schemes are :data:`SECURITY_SCHEMES`.
* Constraints: what the fields enforce beyond flask-smorest's mapping (:func:`field_rules`):
  `Text`'s refusal of control characters and blank values, URL schemes.
* Errors: every documented error response (status 4xx/5xx and `default`) is RFC 9457
  `application/problem+json` with the `Problem` schema, as `api.errors` answers them:
  :class:`ProblemResponsesPlugin` rewrites the operations, `ProblemApi` the shared responses.

This module imports nothing of the app's features, so `api.extensions` can use it.
"""

from __future__ import annotations

import http
from dataclasses import dataclass, field
from typing import Any

from apispec import BasePlugin
from flask_smorest.utils import prepare_response
from marshmallow import fields, validate

from api.fields import Text, known_timezone, not_in_past

PROBLEM_MIMETYPE = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
BEARER_SCHEME = "bearerAuth"
OPERATOR_SCHEME = "operatorToken"
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    BEARER_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "The access token from `POST /api/v1/auth/login` (the refresh token "
        "only for `POST /api/v1/auth/refresh`).",
    },
    OPERATOR_SCHEME: {
        "type": "http",
        "scheme": "bearer",
        "description": "`METRICS_TOKEN`, when the deployment sets it (production always does).",
    },
}


@dataclass(frozen=True)
class Access:
    """Who may call an operation: its OpenAPI `security` and the refusals it documents."""

    name: str
    security: tuple[dict[str, list[str]], ...]
    refusals: tuple[int, ...] = ()
    roles: tuple[str, ...] = field(default=())

    @property
    def summary(self) -> str:
        if self.roles:
            return f"Access: signed in as {' or '.join(self.roles)}."
        return {
            "public": "Access: public (no token read).",
            "optional_auth": "Access: anyone; a token, when sent, must be valid and is used.",
            "signed_in": "Access: signed in (access token).",
            "refresh_token": "Access: the refresh token.",
            "operator_token": "Access: `METRICS_TOKEN` when it is set.",
        }.get(self.name, f"Access: {self.name}.")


def _is_error(status: str | int) -> bool:
    return str(status) == "default" or (str(status).isdigit() and int(status) >= 400)


def _problem_content(response: dict[str, Any]) -> None:
    """An error response documented without a body, or with the Problem schema as JSON,
    becomes problem+json; one with another schema (e.g. the health checks' 503) is kept."""
    content = response.get("content") or {}
    others = {
        mimetype: media
        for mimetype, media in content.items()
        if not (mimetype == "application/json" and media.get("schema") == PROBLEM_REF)
    }
    if others and PROBLEM_MIMETYPE not in others:
        return
    response["content"] = {PROBLEM_MIMETYPE: {"schema": PROBLEM_REF}}


class ProblemResponsesPlugin(BasePlugin):
    """Declares `application/problem+json` on every error response of every operation, and
    the object-level rules of request schemas (their `JSON_SCHEMA`: `minProperties` of PATCH
    bodies, `dependentRequired`)."""

    def schema_helper(self, name: str, definition: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        extra: dict[str, Any] = getattr(kwargs.get("schema"), "JSON_SCHEMA", {})
        return dict(extra)

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        for operation in (operations or {}).values():
            for status, response in (operation.get("responses") or {}).items():
                if _is_error(status) and isinstance(response, dict) and "$ref" not in response:
                    _problem_content(response)


def problem_component_responses(spec: Any, schema: Any) -> None:
    """flask-smorest's shared responses (`UNPROCESSABLE_ENTITY`, ..., `DEFAULT_ERROR`), with
    the Problem schema as problem+json for errors; registered lazily like flask-smorest's."""
    for status in http.HTTPStatus:
        response: dict[str, Any] = {"description": status.phrase}
        if status >= 400:
            response["schema"] = schema
            prepare_response(response, spec, PROBLEM_MIMETYPE)
        spec.components.response(status.name, response, lazy=True)
    default: dict[str, Any] = {"description": "An error (RFC 9457 problem)", "schema": schema}
    prepare_response(default, spec, PROBLEM_MIMETYPE)
    spec.components.response("DEFAULT_ERROR", default, lazy=True)


# Text: trimmed, then no control characters (single-line: no line breaks either).
_EDGE = r"[^\s\x00-\x1f\x7f]"
_LINE = r"[^\x00-\x1f\x7f]"
_LINES = r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
_HOST = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"


def text_pattern(*, multiline: bool, blank: bool) -> str:
    """The pattern of what `api.fields.Text` accepts (surrounding whitespace is trimmed)."""
    inner = f"{_EDGE}({_LINES if multiline else _LINE}*{_EDGE})?"
    return rf"^\s*({inner}){'?' if blank else ''}\s*$"


def url_pattern(schemes: set[str] | frozenset[str]) -> str:
    names = "|".join(sorted(schemes))
    return rf"^({names})://{_HOST}(\.{_HOST})*\.?(:[0-9]{{1,5}})?([/?#][^\s]*)?$"


# Rules JSON Schema cannot state, said in the field's description instead.
DESCRIBED: dict[Any, str] = {
    not_in_past: "Today or later (UTC).",
    known_timezone: "An IANA time zone name, e.g. `Asia/Makassar`.",
}


def field_rules(self: Any, field: fields.Field, **kwargs: Any) -> dict[str, Any]:
    """An apispec attribute function: the rules our fields add, as JSON Schema keywords."""
    ret: dict[str, Any] = kwargs.get("ret", {})
    rules: dict[str, Any] = {}
    said = [DESCRIBED[rule] for rule in field.validators if rule in DESCRIBED]
    if said:
        rules["description"] = " ".join(filter(None, [ret.get("description"), *said]))
    if isinstance(field, Text) and "pattern" not in ret:
        blank = not field.required and not ret.get("minLength")
        rules["pattern"] = text_pattern(multiline=field.multiline, blank=blank)
    if isinstance(field, fields.Url):
        url = next(v for v in field.validators if isinstance(v, validate.URL))
        rules.update(format="uri", pattern=url_pattern(set(url.schemes)))
    return rules
