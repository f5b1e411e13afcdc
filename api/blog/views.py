"""Post view counts: one per visitor (user, or client address when anonymous) per post per clock
hour, counted in Redis and added to the database by a beat task, so a read never costs an UPDATE.

The visitors of a post in an hour are a HyperLogLog (at most 12 KB, whatever the number of
visitors, ~1% error) that expires after two hours: memory is bounded by the posts read, not by
the visitors or anything they send (the User-Agent used to be part of the key). Without Redis
(the embedded mode) each first view of the hour updates the row directly."""

from __future__ import annotations

import hashlib
import time
import uuid

from sqlalchemy import update

from api.blog.models import Post
from api.database import on_commit
from api.extensions import cache, db, redis_client
from api.security import Caller

PENDING = "post-views:pending"
DEDUPE_SECONDS = 3600
COUNT_ONCE = """
if redis.call('PFADD', KEYS[1], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


def visitor(caller: Caller) -> str:
    """A visitor: the user, or the client address (never anything else the client sends)."""
    if caller.user_id:
        return f"u{caller.user_id.hex}"
    return "a" + hashlib.sha256(caller.address.encode()).hexdigest()[:24]


def record(slug: str, caller: Caller) -> None:
    """Count a view of the published post `slug` (once per visitor per hour)."""
    hour = int(time.time() // DEDUPE_SECONDS)
    client = redis_client.current
    if client is None:
        if cache.add(f"post-viewed:{slug}:{hour}:{visitor(caller)}", 1, timeout=DEDUPE_SECONDS):
            _add_views({slug: 1})
        return
    seen = f"post-views:seen:{slug}:{hour}"
    client.eval(COUNT_ONCE, 2, seen, PENDING, visitor(caller), slug, 2 * DEDUPE_SECONDS)


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
