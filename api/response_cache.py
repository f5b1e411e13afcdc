"""Cached public reads: JSON bodies kept serialised in the cache, served with ETag and
Cache-Control, and 304 when the client's copy is current.

Each namespace has a version (`{namespace}:version`); an entry (`{namespace}:{key}`) stores
the version it was built under. A read fetches both in one round trip (MGET) and rebuilds
when they differ, so bumping the version on a write invalidates every cached page of the
namespace at once, on every process, without scanning keys. The security state kept in the
same cache (revoked tokens, lockouts) is never touched by invalidation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import quote

import redis
from flask import Response, current_app, has_request_context, request
from flask_caching.backends.rediscache import RedisCache
from marshmallow import Schema
from sqlalchemy import Select

from api import compression, ratelimits
from api.database import on_commit
from api.extensions import cache
from api.pagination import paginate
from api.security import Caller, current_caller
from api.telemetry import CACHE_REQUESTS

NAMESPACES = ("catalogue", "posts", "reviews")


def version(namespace: str) -> int:
    return int(cache.get(f"{namespace}:version") or 0)


def bump_now(namespace: str) -> None:
    """Invalidate every cached read of the namespace (atomic INCR on Redis)."""
    cache.add(f"{namespace}:version", 0, timeout=0)
    cache.cache.inc(f"{namespace}:version")


def bump(namespace: str) -> None:
    """Invalidate the namespace once the unit of work that changed it commits: a rolled-back
    write leaves the cache as it was, and no reader rebuilds from rows not committed yet."""
    on_commit(lambda: bump_now(namespace))


def invalidate_all() -> None:
    for namespace in NAMESPACES:
        bump_now(namespace)


def serialise(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def etag(body: bytes) -> str:
    return f'"{hashlib.sha1(body).hexdigest()[:20]}"'


@dataclass
class Visit:
    """A post view to count in the same Redis round trip as the cache read: counted there when
    the entry exists (`counted`); otherwise the caller counts it once the post is built."""

    seen_key: str  # the hour's HyperLogLog of visitors
    pending_key: str  # views not yet in the database
    visitor: str
    slug: str
    ttl: int
    counted: bool = False


FETCH_AND_COUNT = """
local found = redis.call('MGET', KEYS[1], KEYS[2])
if found[2] then
  if redis.call('PFADD', KEYS[3], ARGV[1]) == 1 then
    redis.call('HINCRBY', KEYS[4], ARGV[2], 1)
  end
  redis.call('EXPIRE', KEYS[3], ARGV[3])
end
return found
"""
FETCH_AND_COUNT_SHA = hashlib.sha1(FETCH_AND_COUNT.encode()).hexdigest()


def redis_backend() -> RedisCache | None:
    """The cache's Redis backend (None for the embedded mode's folder)."""
    backend = cache.cache
    return backend if isinstance(backend, RedisCache) else None


def _fetch(version_key: str, entry_key: str, visit: Visit | None) -> tuple[Any, Any]:
    backend = redis_backend()
    if visit is None or backend is None:
        found: list[Any] = cache.get_many(version_key, entry_key)
        return found[0], found[1]
    prefix = backend.key_prefix if isinstance(backend.key_prefix, str) else ""
    arguments = (
        prefix + version_key,
        prefix + entry_key,
        visit.seen_key,
        visit.pending_key,
        visit.visitor,
        visit.slug,
        visit.ttl,
    )
    client = backend._write_client
    try:  # by its digest: Redis neither receives nor hashes the script's text again
        raw = client.evalsha(FETCH_AND_COUNT_SHA, 4, *arguments)
    except redis.exceptions.NoScriptError:  # first use since Redis started: send the text
        raw = client.eval(FETCH_AND_COUNT, 4, *arguments)
    visit.counted = raw[1] is not None
    version, entry = (None if value is None else backend.serializer.loads(value) for value in raw)
    return version, entry


class Cached(NamedTuple):
    """A cached answer: its body, ETag and, for a large JSON body, its gzip form (made once,
    when the entry is built, never again on a hit)."""

    body: bytes
    etag: str
    gzipped: bytes | None = None


def _built(body: bytes, encode: Callable[[Any], bytes]) -> Cached:
    return Cached(body, etag(body), compression.gzipped(body) if encode is serialise else None)


def get_or_build(
    namespace: str,
    key: str,
    build: Callable[[], Any],
    visit: Visit | None = None,
    encode: Callable[[Any], bytes] = serialise,
) -> Cached:
    """The cached answer for `key`, building and storing it on a miss: one Redis round trip
    on a hit, the view of a post (`visit`) counted in it. `encode` turns what `build` returns
    into the body (JSON by default; the feeds build XML)."""
    if not current_app.config["RESPONSE_CACHE_SECONDS"]:  # caching turned off
        return _built(encode(build()), encode)
    entry_key = f"{namespace}:{key}"
    current, entry = _fetch(f"{namespace}:version", entry_key, visit)
    current = int(current or 0)
    if entry is not None and entry[0] == current:
        CACHE_REQUESTS.labels(namespace, "hit").inc()
        return Cached(*entry[1:])  # (body, tag), or (body, tag, gzipped)
    CACHE_REQUESTS.labels(namespace, "miss").inc()
    if has_request_context():  # misses (not hits) count against the public-read limit
        ratelimits.charge("RATELIMIT_PUBLIC_READ")
    cached = _built(encode(build()), encode)
    cache.set(entry_key, (current, *cached), timeout=current_app.config["RESPONSE_CACHE_SECONDS"])
    return cached


def json_response(
    body: bytes,
    tag: str,
    gzipped: bytes | None = None,
    *,
    public: bool = True,
    mimetype: str = "application/json",
) -> Response:
    """200 with the body (its gzip form, when there is one and the client takes it), or 304
    when If-None-Match names this ETag."""
    max_age = current_app.config["HTTP_CACHE_MAX_AGE"]
    headers = {
        "ETag": tag,
        "Cache-Control": f"public, max-age={max_age}" if public else "private, no-cache",
    }
    if tag in request.environ.get("HTTP_IF_NONE_MATCH", ""):
        return Response(status=304, headers=headers)
    response = Response(body, mimetype=mimetype, headers=headers)
    if gzipped is not None and compression.accepts_gzip():
        compression.use_gzipped(response, gzipped)
    return response


def uncached_json(data: Any, *, public: bool = False) -> Response:
    """A response built now (private views: drafts, moderators' filters), still with ETag."""
    return json_response(*_built(serialise(data), serialise), public=public)


def key_for(**parts: Any) -> str:
    """A stable cache key from query parameters (order-independent). Values are quoted (a
    list joined by commas), so no value can spell another key's parameters."""

    def quoted(value: Any) -> str:
        if isinstance(value, list | tuple):
            return ",".join(quote(str(item), safe="") for item in value)
        return quote(str(value), safe="")

    return "&".join(
        f"{name}={quoted(parts[name])}" for name in sorted(parts) if parts[name] is not None
    )


def staff_page(
    schema: type[Schema], page: int, per_page: int, query_for: Callable[[Caller], Select[Any]]
) -> Response | None:
    """Moderators' uncached view of a list (drafts, pending items), or None for everyone
    else, who get the cached public page."""
    caller = current_caller()
    if not caller.is_staff:
        return None
    return uncached_json(schema().dump(paginate(query_for(caller), page, per_page)))
