"""The near cache of cached reads: each process's own copies, kept fresh by `cache:changed`.

Two apps built from the same settings stand for two web processes: each has its own near
cache; they share Redis, PostgreSQL and this process's one subscription to `cache:changed`.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Flask

from api import response_cache
from api.response_cache import NearCache
from tests.conftest import REDIS_DB_CACHE, REDIS_HOST_URL, redis_commands, token_for, wait_until

POST = {"title": "Sunrise on Batur", "content": "Up at three.", "status": "published"}


def near(app: Flask) -> NearCache:
    found = app.extensions["near_cache"]
    assert isinstance(found, NearCache)
    return found


def titles(client: Any) -> list[str]:
    response = client.get("/api/v1/posts")
    assert response.status_code == 200
    return [item["title"] for item in response.get_json()["items"]]


def kept_in_memory(app: Flask) -> list[str]:
    """Read the list until this process keeps it (its subscription may still be coming up)."""
    client = app.test_client()
    wait_until(lambda: (client.get("/api/v1/posts"), near(app).up)[1], 10, "the subscription")
    found = titles(client)
    assert any(key.startswith("posts:list:") for key in near(app)._entries)
    return found


def test_a_read_again_is_answered_from_the_process_without_a_redis_round_trip(app, client):
    client.post("/api/v1/posts", json=POST, headers=token_for(app))
    first = kept_in_memory(app)
    with redis_commands() as sent:
        again = client.get("/api/v1/posts")

    assert [item["title"] for item in again.get_json()["items"]] == first == ["Sunrise on Batur"]
    assert sent == []
    assert (
        client.get("/api/v1/posts", headers={"If-None-Match": again.headers["ETag"]}).status_code
        == 304
    )


def test_a_change_made_by_another_process_reaches_this_ones_copy(make_app):
    reader, writer = make_app(), make_app()
    assert kept_in_memory(reader) == []
    before = near(reader).generation("posts")

    created = writer.test_client().post("/api/v1/posts", json=POST, headers=token_for(writer))
    assert created.status_code == 201

    # The signal: the reader's process heard the writer's announcement.
    wait_until(lambda: near(reader).generation("posts") != before, 10, "the announcement")
    assert titles(reader.test_client()) == ["Sunrise on Batur"]


def test_copies_are_forgotten_when_the_subscription_drops_so_a_lost_message_costs_nothing(
    make_app, caplog
):
    reader, writer = make_app(), make_app()
    assert kept_in_memory(reader) == []
    pubsub_log = logging.getLogger("api.pubsub")  # the app's logging replaced the root handlers
    pubsub_log.addHandler(caplog.handler)

    # Drop every pub/sub connection of this Redis: the reader's copies go with its subscription.
    redis.Redis.from_url(f"{REDIS_HOST_URL}/{REDIS_DB_CACHE}").client_kill_filter(_type="pubsub")
    wait_until(lambda: not near(reader)._entries, 10, "the copies to be forgotten")
    created = writer.test_client().post("/api/v1/posts", json=POST, headers=token_for(writer))
    assert created.status_code == 201  # announced while the reader may not be listening

    assert titles(reader.test_client()) == ["Sunrise on Batur"]
    wait_until(lambda: near(reader).subscription.up, 15, "the subscription to come back")
    assert kept_in_memory(reader) == ["Sunrise on Batur"]
    pubsub_log.removeHandler(caplog.handler)
    losses = [record for record in caplog.records if "lost" in record.getMessage()]
    assert losses
    assert not any(record.exc_info for record in losses)  # one line each, no traceback


def test_a_process_without_a_near_cache_still_announces_its_changes(make_app):
    reader, writer = make_app(), make_app(RESPONSE_NEAR_CACHE_ENTRIES="0")
    assert "near_cache" not in writer.extensions
    assert kept_in_memory(reader) == []
    before = near(reader).generation("posts")

    writer.test_client().post("/api/v1/posts", json=POST, headers=token_for(writer))

    wait_until(lambda: near(reader).generation("posts") != before, 10, "the announcement")
    assert titles(reader.test_client()) == ["Sunrise on Batur"]


def test_a_namespace_version_is_known_without_redis_until_another_process_changes_it(
    make_app,
):
    reader, writer = make_app(), make_app()
    kept_in_memory(reader)  # its subscription is up
    with reader.app_context():
        first = response_cache.version("catalogue")  # read from Redis once, then known
        with redis_commands() as sent:
            assert response_cache.version("catalogue") == first
        assert sent == []

        before = near(reader).generation("catalogue")
        with writer.app_context():
            response_cache.bump_now("catalogue")
        wait_until(lambda: near(reader).generation("catalogue") != before, 10, "the announcement")
        assert response_cache.version("catalogue") == first + 1
