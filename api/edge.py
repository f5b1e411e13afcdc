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
"""

from __future__ import annotations

import time

from flask import Flask, Response, g, request

from api import cors, logs, observability
from api.responses import ApiResponse
from api.telemetry import observe_request


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
        ) + cors.vary_origin(response.headers)
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
