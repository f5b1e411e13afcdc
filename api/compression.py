"""gzip for large JSON answers, when the client accepts it.

Only JSON (and problem+json) bodies of at least MIN_BYTES are compressed: below that gzip
saves less than it costs, streams (`text/event-stream`) must reach the client as they are
written, and media files are already compressed. A hot-path answer under the threshold pays
one header lookup. Level 5 keeps most of level 9's saving at about a third of its time.

Such answers say `Vary: Accept-Encoding` whether or not this client took gzip, so a shared
cache keeps the two forms apart. A compressed answer's ETag is made weak (`W/"..."`, as nginx
does): the bytes differ from the identity form, so the strong tag would be wrong for them,
while If-None-Match compares weakly, so revalidation still gets 304. A 304 to a weak tag
answers with the weak tag.
"""

from __future__ import annotations

import zlib

from flask import Flask, Response, request

MIN_BYTES = 1024
LEVEL = 5
GZIP_WBITS = 31  # zlib's gzip container
COMPRESSIBLE = frozenset({"application/json", "application/problem+json"})


def _compress(response: Response) -> Response:
    if response.status_code == 304:
        return _not_modified(response)
    length = response.content_length  # None for a stream
    if (
        length is None
        or length < MIN_BYTES
        or response.direct_passthrough  # a file being sent as it is
        or response.is_streamed
        or response.status_code == 206
        or response.mimetype not in COMPRESSIBLE
        or "Content-Encoding" in response.headers  # not twice
    ):
        return response
    response.vary.add("Accept-Encoding")
    if request.accept_encodings["gzip"] <= 0:  # the quality of gzip, `*` included
        return response
    response.set_data(zlib.compress(response.get_data(), LEVEL, wbits=GZIP_WBITS))
    response.headers["Content-Encoding"] = "gzip"
    etag = response.headers.get("ETag")
    if etag is not None and not etag.startswith("W/"):
        response.headers["ETag"] = "W/" + etag
    return response


def _not_modified(response: Response) -> Response:
    """A client revalidating a compressed answer holds its weak tag: say the same."""
    etag = response.headers.get("ETag")
    if etag is not None and not etag.startswith("W/"):
        weak = "W/" + etag
        if weak in request.headers.get("If-None-Match", ""):
            response.headers["ETag"] = weak
            response.vary.add("Accept-Encoding")
    return response


def init_app(app: Flask) -> None:
    """Register just before the database's hook, so this runs right after the commit (on the
    final body) and before the metrics hook (whose duration includes the compression)."""
    app.after_request(_compress)
