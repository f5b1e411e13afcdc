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
from werkzeug.datastructures import Headers

from api.observability import HeaderPairs
from api.responses import ApiResponse

MIN_BYTES = 1024
LEVEL = 5
GZIP_WBITS = 31  # zlib's gzip container
COMPRESSIBLE = frozenset({"application/json", "application/problem+json"})


def gzipped(body: bytes) -> bytes | None:
    """The gzip form of a JSON body worth compressing, else None (the response cache keeps it
    beside the body, so a cache hit is never compressed again)."""
    return zlib.compress(body, LEVEL, wbits=GZIP_WBITS) if len(body) >= MIN_BYTES else None


def accepts_gzip() -> bool:
    """The client takes gzip (its quality above 0, `*` included); a client that names no
    encoding at all (most scripts) costs one environ lookup."""
    header = request.environ.get("HTTP_ACCEPT_ENCODING")
    return bool(header) and request.accept_encodings["gzip"] > 0


def add_vary(headers: Headers, name: str) -> None:
    """`response.vary.add(name)` without parsing the header into a set and writing it back
    (most answers have no Vary yet)."""
    vary = headers.get("Vary")
    if vary is None:
        headers.add("Vary", name)
    elif name.lower() not in {item.strip().lower() for item in vary.split(",")}:
        headers["Vary"] = f"{vary}, {name}"


def weak(etag: str) -> str:
    """The gzip form's ETag: the weak form of the plain body's (the bytes differ)."""
    return etag if etag.startswith("W/") else "W/" + etag


def _weakened(pairs: HeaderPairs) -> HeaderPairs:
    return tuple((name, weak(value) if name == "ETag" else value) for name, value in pairs)


def use_gzipped(response: Response, body: bytes) -> None:
    """Send `body` (the gzip form of the response's data) in its place."""
    response.set_data(body)
    headers = response.headers
    headers["Content-Encoding"] = "gzip"
    add_vary(headers, "Accept-Encoding")
    etag = headers.get("ETag")
    if etag is not None:
        headers["ETag"] = weak(etag)


def prepared(body: bytes, gzipped: bytes | None, pairs: HeaderPairs, mimetype: str) -> ApiResponse:
    """Answer with a body whose gzip form was made once (the response cache keeps both, so a
    hit is never compressed again): the form this client takes, `Vary: Accept-Encoding` when
    there is a gzip form, and `pairs` (its ETag, weak for the gzip form, and Cache-Control).
    They are the response's own prepared headers, appended as it leaves (werkzeug's header
    checks cost about 15 µs a cached read), and the response is marked so the after-request
    hook does not look at it again."""
    vary = None
    if gzipped is not None:
        vary = "Accept-Encoding"
        if accepts_gzip():
            body = gzipped
            pairs = (("Content-Encoding", "gzip"), *_weakened(pairs))
    response = ApiResponse(body, mimetype=mimetype)
    response.own_headers = pairs
    response.own_vary = vary
    response.encoding_decided = True
    return response


def prepared_not_modified(pairs: HeaderPairs, *, varies: bool) -> ApiResponse:
    """304 for a client holding a cached answer's ETag (`pairs`: ETag, Cache-Control), with
    the Vary its 200 would carry (`varies`: it has a gzip form), whichever tag was named; a
    client that named the gzip form's weak tag gets that tag back."""
    if varies and "W/" in request.environ.get("HTTP_IF_NONE_MATCH", ""):
        pairs = _weakened(pairs)
    response = ApiResponse(status=304)
    response.own_headers = pairs
    response.own_vary = "Accept-Encoding" if varies else None
    response.encoding_decided = True
    return response


def _compress(response: Response) -> Response:
    if getattr(response, "encoding_decided", False):
        return response
    status = response.status_code
    if status == 304:
        return _not_modified(response)
    headers = response.headers
    length = headers.get("Content-Length")  # None for a stream
    if (
        length is None
        or int(length) < MIN_BYTES
        or status == 206
        or response.direct_passthrough  # a file being sent as it is
        or response.is_streamed
        or "Content-Encoding" in headers  # not twice (a cached gzip body is sent as it is)
        or headers.get("Content-Type", "").partition(";")[0].strip() not in COMPRESSIBLE
    ):
        return response
    add_vary(headers, "Accept-Encoding")
    if accepts_gzip():
        use_gzipped(response, zlib.compress(response.get_data(), LEVEL, wbits=GZIP_WBITS))
    return response


def _not_modified(response: Response) -> Response:
    """A client revalidating a compressed answer holds its weak tag: say the same."""
    etag = response.headers.get("ETag")
    if (
        etag is not None
        and not etag.startswith("W/")
        and weak(etag) in request.headers.get("If-None-Match", "")
    ):
        response.headers["ETag"] = weak(etag)
        add_vary(response.headers, "Accept-Encoding")
    return response


def init_app(app: Flask) -> None:
    """Register just before the database's hook, so this runs right after the commit (on the
    final body) and before the metrics hook (whose duration includes the compression)."""
    app.after_request(_compress)
