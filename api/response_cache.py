"""Cached public reads: JSON bodies kept serialised in the cache, served with ETag and
Cache-Control, and 304 when the client's copy is current.

Each namespace has a version (`{namespace}:version`); an entry (`{namespace}:{key}`) stores
the version it was built under. A read fetches both in one round trip (MGET) and rebuilds
when they differ, so bumping the version on a write invalidates every cached page of the
namespace at once, on every process, without scanning keys. The security state kept in the
same cache (revoked tokens, lockouts) is never touched by invalidation.

Near cache: each process also keeps its last RESPONSE_NEAR_CACHE_ENTRIES answers, so a hit
costs no Redis round trip at all. A bump publishes the namespace on `cache:changed` after its
INCR, and every process forgets the namespace's version when it hears it (the bumping process
at once); a process trusts its copies only while its subscription is up (Redis confirmed it),
and forgets them all when it drops, so a lost message never keeps a stale page. The window in
which another process may still answer the old page is the message's delivery (about a
millisecond), far inside the `max-age` every cached answer carries anyway (a post's view is
counted apart, in a batch: `api.blog.views`).
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import quote

import redis
from flask import Flask, Response, current_app, has_request_context, request
from flask_caching.backends.rediscache import RedisCache
from marshmallow import Schema
from sqlalchemy import Select

from api import compression, ratelimits
from api.database import on_commit
from api.extensions import cache
from api.pagination import paginate
from api.pubsub import Subscription
from api.responses import ApiResponse
from api.security import Caller, current_caller
from api.telemetry import count_cache_request

log = logging.getLogger(__name__)

NAMESPACES = ("catalogue", "posts", "reviews")


CHANGED_CHANNEL = "cache:changed"


class NearCache:
    """This process's copies of cached answers for one app, checked against the namespace
    versions it learned; trusted only while the subscription to CHANGED_CHANNEL is up."""

    def __init__(self, url: str, prefix: str, entries: int) -> None:
        self.prefix = prefix
        self.capacity = entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[int, Cached]] = OrderedDict()
        self._versions: dict[str, int] = {}
        self._generations: collections.Counter[str] = collections.Counter()
        self.up = False
        self.subscription = _subscription(url)
        _NEAR_CACHES[url].add(self)
        self.subscription.when_up(lambda: self.reset(up=True))  # joining a live subscription

    def get(self, namespace: str, key: str) -> Cached | None:
        if not self.up:
            self.subscription.start()
            return None
        with self._lock:
            version = self._versions.get(namespace)
            found = self._entries.get(key)
            if version is None or found is None or found[0] != version:
                return None
            self._entries.move_to_end(key)
            return found[1]

    def generation(self, namespace: str) -> int:
        return self._generations[namespace]

    def version(self, namespace: str) -> int | None:
        """The namespace's version as this process knows it, or None (not known, or not up)."""
        if not self.up:
            self.subscription.start()
            return None
        return self._versions.get(namespace)

    def learn(self, namespace: str, generation: int, version: int) -> None:
        """Remember `version`, read from Redis, unless the namespace changed since
        `generation` was read (the version read may then be the old one)."""
        with self._lock:
            if self.up and self._generations[namespace] == generation:
                self._versions[namespace] = version

    def keep(self, namespace: str, generation: int, version: int, key: str, cached: Cached) -> None:
        """Keep `cached` (built or read under `version`), unless the namespace changed since
        `generation` was read: the version read may then be the old one."""
        with self._lock:
            if not self.up or self._generations[namespace] != generation:
                return
            self._versions[namespace] = version
            self._entries[key] = (version, cached)
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def changed(self, namespace: str) -> None:
        with self._lock:
            self._generations[namespace] += 1
            self._versions.pop(namespace, None)

    def reset(self, up: bool) -> None:
        with self._lock:
            self._entries.clear()
            self._versions.clear()
            for namespace in list(self._generations):
                self._generations[namespace] += 1
            self.up = up


# One subscription per process and Redis URL, for every app's near cache on it (an app in a
# test, or the one app of a web process).
_NEAR_CACHES: collections.defaultdict[str, weakref.WeakSet[NearCache]] = collections.defaultdict(
    weakref.WeakSet
)
_SUBSCRIPTIONS: dict[str, Subscription] = {}
_SUBSCRIPTIONS_LOCK = threading.Lock()


def _subscription(url: str) -> Subscription:
    with _SUBSCRIPTIONS_LOCK:
        found = _SUBSCRIPTIONS.get(url)
        if found is None:

            def each(action: Callable[[NearCache], None]) -> None:
                for near in list(_NEAR_CACHES[url]):
                    action(near)

            def heard(data: bytes) -> None:
                name = data.decode()
                each(lambda near: near.changed(name.removeprefix(near.prefix)))

            found = _SUBSCRIPTIONS[url] = Subscription(
                url,
                CHANGED_CHANNEL,
                heard,
                on_up=lambda: each(lambda near: near.reset(up=True)),
                on_lost=lambda: each(lambda near: near.reset(up=False)),
                on_start=lambda: each(lambda near: near.reset(up=False)),
            )
    return found


def near_cache() -> NearCache | None:
    """The app's near cache, or None (no Redis, or RESPONSE_NEAR_CACHE_ENTRIES=0)."""
    found: NearCache | None = current_app.extensions.get("near_cache")
    return found


def init_app(app: Flask) -> None:
    url = app.config.get("CACHE_REDIS_URL")
    entries = app.config["RESPONSE_NEAR_CACHE_ENTRIES"]
    if url and entries and app.config["CACHE_TYPE"] == "RedisCache":
        app.extensions["near_cache"] = NearCache(url, app.config["CACHE_KEY_PREFIX"], entries)


def version(namespace: str) -> int:
    """The namespace's version: from the near cache when it knows it, else one Redis GET."""
    near = near_cache()
    if near is None:
        return int(cache.get(f"{namespace}:version") or 0)
    known = near.version(namespace)
    if known is not None:
        return known
    generation = near.generation(namespace)
    current = int(cache.get(f"{namespace}:version") or 0)
    near.learn(namespace, generation, current)
    return current


def bump_now(namespace: str) -> None:
    """Invalidate every cached read of the namespace (atomic INCR on Redis), then tell every
    process's near cache (this one's at once)."""
    cache.add(f"{namespace}:version", 0, timeout=0)
    cache.cache.inc(f"{namespace}:version")
    near = near_cache()
    if near is not None:
        near.changed(namespace)
    backend = redis_backend()
    if backend is None:
        return
    try:  # published by every process, near cache or not: web processes may keep one
        prefix = current_app.config["CACHE_KEY_PREFIX"]
        backend._write_client.publish(CHANGED_CHANNEL, f"{prefix}{namespace}")
    except redis.RedisError:  # their copies stay until the subscription drops or max-age
        log.warning("could not announce the change of %s", namespace, exc_info=True)


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


def redis_backend() -> RedisCache | None:
    """The cache's Redis backend (None for the embedded mode's folder)."""
    backend = cache.cache
    return backend if isinstance(backend, RedisCache) else None


def _fetch(version_key: str, entry_key: str) -> tuple[Any, Any]:
    found: list[Any] = cache.get_many(version_key, entry_key)
    return found[0], found[1]


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
    encode: Callable[[Any], bytes] = serialise,
) -> Cached:
    """The cached answer for `key`, building and storing it on a miss: no Redis round trip on
    a near-cache hit, one (MGET) on a hit. `encode` turns what `build` returns into the body
    (JSON by default; the feeds build XML)."""
    if not current_app.config["RESPONSE_CACHE_SECONDS"]:  # caching turned off
        return _built(encode(build()), encode)
    entry_key = f"{namespace}:{key}"
    near = near_cache()
    generation = 0
    if near is not None:
        found = near.get(namespace, entry_key)
        if found is not None:
            count_cache_request(namespace, "hit")  # served from this process
            return found
        generation = near.generation(namespace)
    current, entry = _fetch(f"{namespace}:version", entry_key)
    current = int(current or 0)
    if entry is not None and entry[0] == current:
        count_cache_request(namespace, "hit")
        cached = Cached(*entry[1:])  # (body, tag), or (body, tag, gzipped)
    else:
        count_cache_request(namespace, "miss")
        if has_request_context():  # misses (not hits) count against the public-read limit
            ratelimits.charge("RATELIMIT_PUBLIC_READ")
        cached = _built(encode(build()), encode)
        seconds = current_app.config["RESPONSE_CACHE_SECONDS"]
        cache.set(entry_key, (current, *cached), timeout=seconds)
    if near is not None:
        near.keep(namespace, generation, current, entry_key, cached)
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
    pairs = (
        ("ETag", tag),
        ("Cache-Control", f"public, max-age={max_age}" if public else "private, no-cache"),
    )
    if tag in request.environ.get("HTTP_IF_NONE_MATCH", ""):
        return compression.prepared_not_modified(pairs, varies=gzipped is not None)
    if gzipped is None and len(body) >= compression.MIN_BYTES:
        # No gzip form kept (not JSON): the compression hook decides as for any answer.
        return ApiResponse(body, mimetype=mimetype, headers=pairs)
    return compression.prepared(body, gzipped, pairs, mimetype)


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
