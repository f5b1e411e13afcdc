"""Bounds every request meets before any route reads it.

* Body size per route: JSON bodies at most MAX_JSON_BYTES (1 MiB); only the media upload takes
  MAX_CONTENT_LENGTH (60 MiB). Too large is a 413 problem, answered from Content-Length before
  the body is read, or as soon as a chunked body crosses the limit.
* JSON shape: nesting at most MAX_JSON_DEPTH levels; strings without NUL characters (PostgreSQL
  text cannot hold them) or lone surrogates (not encodable as UTF-8); numbers Python can read
  (at most 4,300 digits) and no NaN or Infinity (not JSON, and a float column would store
  them). Anything else is a 400 problem, never a RecursionError, a ValueError from deep in a
  parser or a database error turned into a 500.
* Query strings and paths without NUL characters.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask, current_app, request
from werkzeug.exceptions import BadRequest

from api.errors import PayloadTooLarge

MAX_JSON_DEPTH = 32
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
LARGE_BODY_ENDPOINTS = frozenset({"media.upload"})


class UnacceptableJson(BadRequest):
    pass


def _refuse_constant(name: str) -> Any:
    raise UnacceptableJson(f"{name} is not a JSON number; the body may not contain it.")


def check_json(value: Any, depth: int = 0) -> None:
    """Raise UnacceptableJson if `value` nests too deeply or holds an unstorable string."""
    if depth > MAX_JSON_DEPTH:
        raise UnacceptableJson(f"The JSON body nests deeper than {MAX_JSON_DEPTH} levels.")
    if isinstance(value, str):
        if UNSTORABLE.search(value):
            raise UnacceptableJson(
                "Strings in the body may not contain NUL characters or lone surrogates."
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            check_json(key, depth + 1)
            check_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_json(item, depth + 1)


def _limit_body() -> None:
    limit = (
        current_app.config["MAX_CONTENT_LENGTH"]
        if request.endpoint in LARGE_BODY_ENDPOINTS
        else current_app.config["MAX_JSON_BYTES"]
    )
    request.max_content_length = limit  # a chunked body is cut when it crosses the limit
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(
            f"The request body is larger than {limit:,} bytes.", code="payload_too_large"
        )


BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _check_request() -> None:
    environ = request.environ
    query = environ.get("QUERY_STRING", "")
    if "\x00" in environ.get("PATH_INFO", "") or "%00" in query or "\x00" in query:
        raise BadRequest("The URL may not contain NUL characters.")
    if request.method not in BODY_METHODS:
        return  # nothing to bound: a GET's body is never read
    _limit_body()
    if request.is_json and request.content_length != 0:
        data = request.get_data(cache=True)
        if not data:
            return
        try:
            parsed = json.loads(data, parse_constant=_refuse_constant)
        except RecursionError as exc:
            raise UnacceptableJson(
                f"The JSON body nests deeper than {MAX_JSON_DEPTH} levels."
            ) from exc
        except json.JSONDecodeError:
            return  # malformed: the route's parser answers 400 with its own message
        except ValueError as exc:  # a number too long to read, bytes that are not text
            raise UnacceptableJson("The JSON body holds a value that cannot be read.") from exc
        check_json(parsed)


def init_app(app: Flask) -> None:
    app.before_request(_check_request)
