"""The app's response class: the headers every answer carries, appended as it leaves.

werkzeug checks a header's value as it is added and again as it copies the headers for the
server, twice per header per request, for values that are constants (the security headers) or
a token checked once (the request id). `api.edge` sets them as `appended_headers`; they join
the header list handed to the server, after the headers the answer itself set (and those a
cached answer prepared, `own_headers`)."""

from __future__ import annotations

from typing import Any

from flask import Response

from api.observability import HeaderPairs


class ApiResponse(Response):
    """The app's response class: `appended_headers` (set by `api.edge` on the final answer)
    join the header list as the answer is handed to the server."""

    appended_headers: HeaderPairs = ()
    # A cached answer's own headers (ETag, Cache-Control, Content-Encoding), made ready by
    # `api.compression.prepared`, and its Vary (to which `api.edge` joins Origin).
    own_headers: HeaderPairs = ()
    own_vary: str | None = None
    encoding_decided = False  # `api.compression.prepared` chose the body's encoding

    def get_wsgi_response(self, environ: Any) -> tuple[Any, str, list[tuple[str, str]]]:
        app_iter, status, headers = super().get_wsgi_response(environ)
        headers.extend(self.own_headers)
        headers.extend(self.appended_headers)
        return app_iter, status, headers
