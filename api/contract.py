"""The project's flask-smorest Blueprint: every operation it registers is part of the contract.

Registering a view without an access declaration (`api.security.public`, `optional_auth`,
`signed_in`, `roles_required`, `refresh_token`, `operator_token`) fails at import time, so an
endpoint cannot be added without saying who may call it. The declaration becomes the
operation's OpenAPI `security` and documents its 401/403 answers; the operation also gets a
stable `operationId`, `<blueprint>.<endpoint>` (the Flask endpoint name, unique by design).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import flask_smorest
from flask_smorest.utils import load_info_from_docstring
from marshmallow import Schema
from webargs.flaskparser import FlaskParser

from api.security import access_of


class MissingAccessDeclaration(TypeError):
    """A view registered without saying who may call it."""


QUERY_MEMO_ENTRIES = 1024
QUERY_MEMO_MAX_BYTES = 512


class ArgumentsParser(FlaskParser):
    """webargs' Flask parser, remembering the query strings it has parsed.

    A query schema's result is a function of the query string alone (no query schema reads
    the caller or the clock), and the hot public reads come with the same few query strings
    over and over: parsing one cost about 30 µs, more than the cache hit it leads to. The last
    QUERY_MEMO_ENTRIES successful parses of query strings up to QUERY_MEMO_MAX_BYTES are kept
    per process; a query string that fails validation is parsed, and refused, every time. Each
    caller gets its own copy (views pop what they read).
    """

    def __init__(self) -> None:
        super().__init__()
        self._memo: OrderedDict[tuple[Schema, bytes], dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def parse(
        self, argmap: Any, req: Any = None, *, location: str | None = None, **kwargs: Any
    ) -> Any:
        req = req if req is not None else self.get_default_request()
        if (
            location != "query"
            or not isinstance(argmap, Schema)
            or kwargs.get("validate") is not None
            or len(req.query_string) > QUERY_MEMO_MAX_BYTES
        ):
            return super().parse(argmap, req, location=location, **kwargs)
        key = (argmap, req.query_string)
        with self._lock:
            known = self._memo.get(key)
            if known is not None:
                self._memo.move_to_end(key)
        if known is None:
            known = super().parse(argmap, req, location=location, **kwargs)
            if not isinstance(known, dict):
                return known
            with self._lock:
                self._memo[key] = known
                if len(self._memo) > QUERY_MEMO_ENTRIES:
                    self._memo.popitem(last=False)
        return {
            name: list(value) if isinstance(value, list) else value for name, value in known.items()
        }


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint, refusing undeclared views and documenting declared ones."""

    CONTRACT = True  # `ProblemApi.register_blueprint` registers only these
    ARGUMENTS_PARSER = ArgumentsParser()

    def alt_response(self, *args: Any, **kwargs: Any) -> Callable[[Any], Any]:
        """flask-smorest's, documenting the answer without wrapping the view in one more call
        per request (its wrapper only calls the view)."""
        document = super().alt_response(*args, **kwargs)

        def decorate(view: Any) -> Any:
            view._apidoc = document(view)._apidoc
            return view

        return decorate

    def add_url_rule(
        self,
        rule: str,
        endpoint: str | None = None,
        view_func: Callable[..., Any] | None = None,
        provide_automatic_options: bool | None = None,
        **options: Any,
    ) -> None:
        if view_func is None:
            raise TypeError("view_func must be provided")
        access = access_of(view_func)
        name = endpoint or view_func.__name__
        if access is None:
            raise MissingAccessDeclaration(
                f"{self.name}.{name} ({rule}) declares no access: decorate it with "
                "public, optional_auth, signed_in, roles_required, refresh_token or "
                "operator_token from api.security"
            )
        apidoc: dict[str, Any] = getattr(view_func, "_apidoc", {})
        manual = apidoc.setdefault("manual_doc", {})
        manual["operationId"] = f"{self.name}.{name}"
        manual["security"] = [dict(requirement) for requirement in access.security]
        manual["x-access"] = access.name  # for tools (and the contract test) that act on it
        if access.roles:
            manual["x-roles"] = list(access.roles)
        described = manual.get("description") or load_info_from_docstring(
            view_func.__doc__, delimiter=self.DOCSTRING_INFO_DELIMITER
        ).get("description")
        manual["description"] = "\n\n".join(part for part in (described, access.summary) if part)
        responses = apidoc.setdefault("response", {}).setdefault("responses", {})
        for status in access.refusals:
            if not responses.get(status):
                responses[status] = ["UNAUTHORIZED" if status == 401 else "FORBIDDEN"]
        view_func._apidoc = apidoc  # type: ignore[attr-defined]
        super().add_url_rule(rule, name, view_func, provide_automatic_options, **options)
