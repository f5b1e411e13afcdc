"""What every request and every answer carries, in one hook pair.

Before the view: the start time, the request id (the client's X-Request-ID when sane, else a
new one) and the log context. After it, once the answer is final (these run after the commit
and the compression: registered first, they run last): the request id and security headers,
`Vary: Origin` and the CORS headers, the request metrics and the request's log line.

The headers every answer carries are appended as the answer leaves (`api.responses`) when it
is the app's own response class, else added to `response.headers` the usual way.

One pair rather than a hook per concern: each hook resolved the request and `g` through
their context-local proxies again (about 5 µs apiece on a small machine), and the common
path paid that a dozen times. The concerns stay in their modules (`api.logs`,
`api.observability`, `api.cors`, `api.telemetry`) as plain functions this module calls with
the request it resolved once.

Constant answers (the liveness probe) are served before Flask by `ConstantAnswers`: an
orchestrator asks every few seconds, and the answer needs nothing a request context gives.
They carry the same headers, metrics and log line as any answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import Flask, Response, g, request

from api import cors, logs, observability
from api.responses import ApiResponse
from api.telemetry import observe_request

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def init_app(app: Flask) -> None:
    """Register before every other hook: the after-hook then runs last, on the final answer."""
    origins: frozenset[str] = app.config["CORS_ORIGIN_SET"]

    def before() -> None:
        ctx = g._get_current_object()
        ctx.request_started = time.perf_counter()
        ctx.request_id = request_id = observability.request_id_for(request.environ)
        logs.start_request(request_id)

    def after(response: Response) -> Response:
        req = request._get_current_object()  # type: ignore[attr-defined]
        ctx = g._get_current_object()
        rule = req.url_rule
        route = rule.rule if rule else None
        appended = observability.headers_for(
            app, rule.endpoint if rule else None, ctx.get("request_id", "")
        ) + cors.vary_origin(response)
        if isinstance(response, ApiResponse):
            response.appended_headers = appended
        else:
            response.headers.extend(appended)
        cors.add_cors_headers(response, req, origins)
        started = ctx.get("request_started")
        if started is not None:  # None when a hook before this one refused the request
            seconds = time.perf_counter() - started
            status = response.status_code
            observe_request(req.method, route or "<unmatched>", status, seconds)
            logs.log_request(req.method, route, status, seconds, ctx.get("caller"))
        return response

    app.before_request(before)
    app.after_request(after)


class ConstantAnswers:
    """WSGI layer in front of the app answering `GET` of a few paths with a constant JSON body
    (the liveness probe), with the headers every answer carries, counted in the request
    metrics and logged like any other answer. A request with an `Origin` (a browser: the CORS
    headers are the app's to decide), a query string (the app's bounds check it), and every
    other method or path go to the app (a GET's body is never read, by either).

    A probe answered here costs a few microseconds instead of the app's request context and
    its hooks (about 30 µs); the path stays a route of the app too, for the OpenAPI spec."""

    def __init__(self, app: Flask, wsgi_app: WsgiApp, answers: Mapping[str, bytes]) -> None:
        self.wsgi_app = wsgi_app
        pairs = app.extensions["default_headers"] + (cors.VARY_ORIGIN,)
        self.answers = {
            path: (
                [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *pairs],
                body,
            )
            for path, body in answers.items()
        }

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        answer = self.answers.get(path)
        if (
            answer is None
            or environ.get("REQUEST_METHOD") != "GET"
            or "HTTP_ORIGIN" in environ
            or environ.get("QUERY_STRING")  # the app's bounds check it
        ):
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        headers, body = answer
        request_id = observability.request_id_for(environ)
        start_response("200 OK", [(observability.REQUEST_ID_HEADER, request_id), *headers])
        seconds = time.perf_counter() - started
        observe_request("GET", path, 200, seconds)
        logs.log_constant_answer(request_id, path, seconds)
        return [body]
