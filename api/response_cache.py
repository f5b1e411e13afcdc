"""Cached public reads: JSON bodies kept serialised in the cache, served with ETag and
Cache-Control, and 304 when the client's copy is current.

Keys live in versioned namespaces (`{namespace}:v{n}:{key}`); a write to a namespace bumps
its version (`{namespace}:version`), which invalidates every cached page of it at once, on
every process, without scanning keys. The security state kept in the same cache (revoked
tokens, lockouts) is never touched by invalidation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, request
from prometheus_client import Counter

from api.extensions import cache

NAMESPACES = ("catalogue", "posts", "reviews")
CACHE_REQUESTS = Counter(
    "baliblissed_cache_requests_total", "Cached public reads by outcome.", ["result"]
)


def version(namespace: str) -> int:
    return int(cache.get(f"{namespace}:version") or 0)


def bump(namespace: str) -> None:
    """Invalidate every cached read of the namespace (atomic INCR on Redis)."""
    cache.add(f"{namespace}:version", 0, timeout=0)
    cache.cache.inc(f"{namespace}:version")


def invalidate_all() -> None:
    for namespace in NAMESPACES:
        bump(namespace)


def serialise(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def etag(body: bytes) -> str:
    return f'"{hashlib.sha1(body).hexdigest()[:20]}"'


def get_or_build(namespace: str, key: str, build: Callable[[], Any]) -> tuple[bytes, str]:
    """The cached body and ETag for `key`, building and storing them on a miss."""
    if not current_app.config["RESPONSE_CACHE_SECONDS"]:  # caching turned off
        body = serialise(build())
        return body, etag(body)
    full_key = f"{namespace}:v{version(namespace)}:{key}"
    entry = cache.get(full_key)
    if entry is not None:
        CACHE_REQUESTS.labels("hit").inc()
        return entry
    CACHE_REQUESTS.labels("miss").inc()
    body = serialise(build())
    entry = (body, etag(body))
    cache.set(full_key, entry, timeout=current_app.config["RESPONSE_CACHE_SECONDS"])
    return entry


def json_response(body: bytes, tag: str, *, public: bool = True) -> Response:
    """200 with the body, or 304 when If-None-Match names this ETag."""
    max_age = current_app.config["HTTP_CACHE_MAX_AGE"]
    headers = {
        "ETag": tag,
        "Cache-Control": f"public, max-age={max_age}" if public else "private, no-cache",
    }
    if tag in request.headers.get("If-None-Match", ""):
        return Response(status=304, headers=headers)
    return Response(body, mimetype="application/json", headers=headers)


def uncached_json(data: Any, *, public: bool = False) -> Response:
    """A response built now (private views: drafts, moderators' filters), still with ETag."""
    body = serialise(data)
    return json_response(body, etag(body), public=public)


def key_for(**parts: Any) -> str:
    """A stable cache key from query parameters (order-independent)."""
    return "&".join(f"{name}={parts[name]}" for name in sorted(parts) if parts[name] is not None)
