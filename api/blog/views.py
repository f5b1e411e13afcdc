"""Post view counts: one per visitor per post per hour, counted in Redis (by slug) and added to
the database by a beat task, so a read never costs an UPDATE. Without Redis (the embedded mode)
each first view of the hour updates the row directly."""

from __future__ import annotations

import hashlib
import uuid

from flask import request
from sqlalchemy import update

from api.blog.models import Post
from api.database import on_commit
from api.extensions import cache, db, redis_client
from api.security import Caller

PENDING = "post-views:pending"
DEDUPE_SECONDS = 3600
COUNT_ONCE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[2]) then
  redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
end
return 1
"""


def visitor(caller: Caller) -> str:
    if caller.user_id:
        return f"u{caller.user_id.hex}"
    raw = f"{caller.address}|{request.headers.get('User-Agent', '')}"
    return "a" + hashlib.sha256(raw.encode()).hexdigest()[:24]


def record(slug: str, caller: Caller) -> None:
    """Count a view of the published post `slug` (once per visitor per hour)."""
    dedupe_key = f"post-viewed:{slug}:{visitor(caller)}"
    client = redis_client.current
    if client is None:
        if cache.add(dedupe_key, 1, timeout=DEDUPE_SECONDS):
            _add_views({slug: 1})
        return
    client.eval(COUNT_ONCE, 2, dedupe_key, PENDING, slug, DEDUPE_SECONDS)


def _add_views(counts: dict[str, int]) -> None:
    for slug, count in counts.items():
        db.session.execute(
            update(Post)
            .where(Post.slug == slug)
            .values(view_count=Post.view_count + count)
            .execution_options(synchronize_session=False)
        )


def flush() -> int:
    """Move the counted views into the database; returns the views added."""
    client = redis_client.current
    if client is None:
        return 0
    batch = f"{PENDING}:{uuid.uuid4().hex}"
    try:
        client.rename(PENDING, batch)  # atomic: new views start a fresh hash meanwhile
    except Exception as exc:  # no pending views (ResponseError: no such key)
        if "no such key" in str(exc).lower():
            return 0
        raise
    pending: dict[bytes, bytes] = client.hgetall(batch)  # type: ignore[assignment]
    counts = {key.decode(): int(value) for key, value in pending.items()}
    _add_views(counts)
    on_commit(lambda: client.delete(batch))  # kept until the counts are in the database
    return sum(counts.values())
