"""The blog: slugs, sanitising, permissions, visibility, search, caching, views."""

from __future__ import annotations

import threading

import pytest
import redis

from api.maintenance import BY_NAME
from tests.conftest import create_user, redis_commands, sql, token_for, wait_until

POST = {
    "title": "Ten Days in Ubud & Amed",
    "content": "## Why Ubud\n\nRice terraces at dawn. **Temples** everywhere.\n\n"
    "Then east to Amed for snorkelling over the Japanese wreck.",
    "tags": ["Ubud", "snorkeling"],
    "status": "published",
}


@pytest.fixture
def author(app):
    return token_for(app, create_user(app, username="writer"))


def write(client, headers, **changes):
    response = client.post("/api/v1/posts", json={**POST, **changes}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_post_gets_a_slug_counts_and_rendered_html(client, author):
    post = write(client, author)

    assert post["slug"] == "ten-days-in-ubud-amed"
    assert post["tags"] == ["snorkeling", "ubud"]
    assert post["word_count"] == 18
    assert post["reading_time_minutes"] == 1
    assert post["view_count"] == 0
    assert post["published_at"] is not None
    assert post["author"]["username"] == "writer"
    assert "<h2>Why Ubud</h2>" in post["content_html"]
    assert "<strong>Temples</strong>" in post["content_html"]
    assert post["excerpt"].startswith("Why Ubud Rice terraces at dawn.")


def test_colliding_titles_get_suffixed_slugs_and_edits_keep_them(client, author):
    first = write(client, author)
    second = write(client, author)
    third = write(client, author)

    assert [first["slug"], second["slug"], third["slug"]] == [
        "ten-days-in-ubud-amed",
        "ten-days-in-ubud-amed-2",
        "ten-days-in-ubud-amed-3",
    ]
    edited = client.patch(
        f"/api/v1/posts/{second['slug']}", headers=author, json={"title": "Completely New Title"}
    ).get_json()
    assert edited["slug"] == "ten-days-in-ubud-amed-2"  # stable unless asked
    renamed = client.patch(
        f"/api/v1/posts/{second['slug']}", headers=author, json={"slug": "new-title"}
    )
    assert renamed.get_json()["slug"] == "new-title"
    taken = client.patch(
        "/api/v1/posts/new-title", headers=author, json={"slug": "ten-days-in-ubud-amed"}
    )
    assert taken.status_code == 409


def test_scripts_javascript_links_and_event_handlers_are_removed(client, author):
    hostile = (
        "Hello <script>alert('x')</script>\n\n"
        '[click](javascript:alert(1)) <img src="https://x.test/a.png" onerror="alert(1)">\n\n'
        '<a href="https://ok.test" onclick="steal()">fine link</a>\n\n'
        '<iframe src="https://evil.test"></iframe>'
    )

    html = write(client, author, content=hostile)["content_html"]

    assert "<script" not in html
    assert "javascript:" not in html
    assert "onerror" not in html
    assert "onclick" not in html
    assert "<iframe" not in html
    assert '<a href="https://ok.test" rel="nofollow noopener noreferrer">fine link</a>' in html
    assert '<img src="https://x.test/a.png">' in html


def test_drafts_are_visible_to_their_author_and_moderators_only(app, client, author):
    draft = write(client, author, status="draft")
    url = f"/api/v1/posts/{draft['slug']}"

    assert client.get(url).status_code == 404
    assert client.get(url, headers=token_for(app)).status_code == 404
    assert client.get(url, headers=author).status_code == 200
    assert client.get(url, headers=token_for(app, role="moderator")).status_code == 200
    assert client.get("/api/v1/posts").get_json()["meta"]["total"] == 0
    staff = client.get("/api/v1/posts?status=draft", headers=token_for(app, role="moderator"))
    assert staff.get_json()["meta"]["total"] == 1
    ignored = client.get("/api/v1/posts?status=draft", headers=token_for(app))
    assert ignored.get_json()["meta"]["total"] == 0  # the filter is for staff only


def test_only_authors_moderators_and_admins_edit(app, client, author):
    post = write(client, author)
    url = f"/api/v1/posts/{post['slug']}"

    assert client.patch(url, headers=token_for(app), json={"title": "Mine now"}).status_code == 403
    assert client.delete(url, headers=token_for(app)).status_code == 403
    assert (
        client.patch(
            url, headers=token_for(app, role="moderator"), json={"status": "archived"}
        ).status_code
        == 200
    )
    assert client.delete(url, headers=token_for(app, role="admin")).status_code == 204
    assert client.patch(url, json={"title": "x"}).status_code == 401


def test_unverified_users_cannot_post_and_bad_fields_are_422(app, client):
    unverified = token_for(app, create_user(app, username="newbie", verified=False))
    assert client.post("/api/v1/posts", json=POST, headers=unverified).status_code == 403
    author = token_for(app)
    for change, field in (
        ({"title": ""}, "title"),
        ({"tags": ["no spaces"]}, "tags"),
        ({"tags": [f"t{n}" for n in range(11)]}, "tags"),
        ({"status": "archived"}, "status"),
        ({"content": "x" * 50_001}, "content"),
    ):
        response = client.post("/api/v1/posts", json={**POST, **change}, headers=author)
        assert response.status_code == 422, change
        assert field in response.get_json()["errors"]


def test_list_filters_search_and_pages(app, client, author):
    other = token_for(app, create_user(app, username="guide"))
    write(client, author, title="Uluwatu surf guide", content="Waves and cliffs.", tags=["surf"])
    write(
        client, other, title="Temple etiquette", content="Sarongs and offerings.", tags=["culture"]
    )
    write(
        client,
        author,
        title="Nusa Penida day trip",
        content="Kelingking cliff and mantas.",
        tags=["islands", "snorkeling"],
    )

    def slugs(query):
        return [p["slug"] for p in client.get(f"/api/v1/posts{query}").get_json()["items"]]

    assert slugs("") == ["nusa-penida-day-trip", "temple-etiquette", "uluwatu-surf-guide"]
    assert slugs("?tag=surf") == ["uluwatu-surf-guide"]
    assert slugs("?author=GUIDE") == ["temple-etiquette"]
    assert slugs("?q=mantas") == ["nusa-penida-day-trip"]
    assert slugs("?q=offering") == ["temple-etiquette"]  # stemmed full-text search
    assert slugs("?per_page=2&page=2") == ["uluwatu-surf-guide"]
    assert client.get("/api/v1/posts?order=random").status_code == 422


def test_public_reads_are_cached_with_etags_and_invalidated_on_edit(client, author):
    post = write(client, author)
    url = f"/api/v1/posts/{post['slug']}"

    first = client.get(url)
    assert first.headers["Cache-Control"].startswith("public")
    etag = first.headers["ETag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    listing = client.get("/api/v1/posts")
    assert (
        client.get("/api/v1/posts", headers={"If-None-Match": listing.headers["ETag"]}).status_code
        == 304
    )

    client.patch(url, headers=author, json={"title": "Updated title"})

    after = client.get(url)
    assert after.get_json()["title"] == "Updated title"  # no stale post after an edit
    assert after.headers["ETag"] != etag
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 200
    assert client.get("/api/v1/posts").get_json()["items"][0]["title"] == "Updated title"


def test_views_count_once_per_visitor_per_hour_and_flush_in_batches(app, client, author):
    post = write(client, author)
    url = f"/api/v1/posts/{post['slug']}"

    for _ in range(3):
        client.get(url)  # the same anonymous visitor
    client.get(url, environ_base={"REMOTE_ADDR": "10.9.9.9"})
    client.get(url, headers=token_for(app))

    assert sql(app, "SELECT view_count FROM posts") == [(0,)]  # nothing written per read
    with app.app_context():
        assert BY_NAME["flush-post-views"].run() == 3
        assert BY_NAME["flush-post-views"].run() == 0
    assert sql(app, "SELECT view_count FROM posts") == [(3,)]


def test_post_media_and_cover_must_be_the_authors(app, client, author):
    theirs = sql(app, "SELECT gen_random_uuid()")[0][0]
    response = client.post(
        "/api/v1/posts", headers=author, json={**POST, "cover_media_id": str(theirs)}
    )

    assert response.status_code == 422
    assert "cover_media_id" in response.get_json()["errors"]


def test_two_authors_racing_for_one_slug_both_succeed(app):
    headers = [token_for(app) for _ in range(2)]
    results = []

    def post(header):
        results.append(app.test_client().post("/api/v1/posts", json=POST, headers=header))

    threads = [threading.Thread(target=post, args=(header,)) for header in headers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    codes = sorted(response.status_code for response in results)
    assert codes in ([201, 201], [201, 409])  # never a 500, never a duplicate slug
    assert len({row[0] for row in sql(app, "SELECT slug FROM posts")}) == codes.count(201)


def test_cache_hits_are_free_but_misses_are_rate_limited(make_app):
    app = make_app(
        RATELIMIT_ENABLED="true",
        RATELIMIT_PUBLIC_READ="2 per hour",
        RATELIMIT_DEFAULT="1000 per hour",
    )
    client = app.test_client()

    hits = [client.get("/api/v1/posts").status_code for _ in range(5)]
    misses = [client.get(f"/api/v1/posts?q=word{n}").status_code for n in range(2)]

    assert hits == [200] * 5  # one miss, then four hits
    assert misses == [200, 429]
    limited = client.get("/api/v1/posts?q=other")
    assert limited.get_json()["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) > 0


@pytest.mark.timeout(60)
def test_hostile_markdown_gets_a_post_or_a_422_on_content_never_a_500_or_a_hang(client, author):
    """Python-Markdown took minutes on runs of `[` and answered deep lists with a 500."""
    brackets = write(client, author, content="[" * 50_000)
    nested = write(client, author, content="- " * 24_996 + "deepest")
    table = "|" + "a|" * 100 + "\n|" + "-|" * 100 + "\n" + "a\n" * 650 + "\n"
    tables = client.post(
        "/api/v1/posts", json={**POST, "content": (table * 30)[:50_000]}, headers=author
    )
    reference = f"[a]: https://x.test/{'a' * 24_000}\n\n" + "[a]" * 8_000
    references = client.post("/api/v1/posts", json={**POST, "content": reference}, headers=author)
    raw = client.post("/api/v1/posts", json={**POST, "content": "<ul><li>" * 6_250}, headers=author)

    assert brackets["word_count"] == 1
    assert "deepest" in nested["content_html"]
    assert tables.status_code == 422
    assert "cells" in tables.get_json()["errors"]["content"][0]
    assert references.status_code == 422
    assert "characters of HTML" in references.get_json()["errors"]["content"][0]
    assert raw.status_code == 422
    assert "HTML tags" in raw.get_json()["errors"]["content"][0]


def test_a_cached_post_answers_without_a_redis_round_trip_and_its_views_follow_in_a_batch(
    app, client, author
):
    post = write(client, author)
    url = f"/api/v1/posts/{post['slug']}"
    near = app.extensions["near_cache"]
    client.get(url)  # built and cached (a miss), and a first visitor
    wait_until(lambda: near.up, 10, "the process's subscription")
    assert client.get(url).status_code == 200  # kept in this process now
    with redis_commands() as sent:
        answer = client.get(url, environ_base={"REMOTE_ADDR": "10.1.2.3"})

    assert answer.status_code == 200
    assert answer.get_json()["title"] == post["title"]
    assert sent == []  # neither the read nor the view waited for Redis
    with app.app_context():
        assert BY_NAME["flush-post-views"].run() == 2  # both visitors counted


def test_several_tags_match_posts_with_any_of_them_and_are_cached_apart(client, author):
    write(client, author, title="Uluwatu surf guide", content="Waves and cliffs.", tags=["surf"])
    write(client, author, title="Temple etiquette", content="Sarongs.", tags=["culture"])
    write(client, author, title="Nusa Penida", content="Mantas.", tags=["islands", "surf"])

    def slugs(query):
        response = client.get(f"/api/v1/posts{query}")
        assert response.status_code == 200, response.get_json()
        return sorted(p["slug"] for p in response.get_json()["items"])

    assert slugs("?tag=surf") == ["nusa-penida", "uluwatu-surf-guide"]
    assert slugs("?tag=culture") == ["temple-etiquette"]  # not the cached ?tag=surf page
    assert slugs("?tag=culture&tag=Islands") == ["nusa-penida", "temple-etiquette"]
    assert slugs("?tag=islands&tag=culture") == ["nusa-penida", "temple-etiquette"]
    assert slugs("?tag=surf&tag=culture&tag=surf") == [
        "nusa-penida",
        "temple-etiquette",
        "uluwatu-surf-guide",
    ]
    assert slugs("?tag=nothing") == []
    write(client, author, title="Canggu breaks", content="More waves.", tags=["surf"])
    assert "canggu-breaks" in slugs("?tag=culture&tag=surf")  # a write invalidates tag pages
    too_many = "&".join(f"tag=t{n}" for n in range(11))
    assert client.get(f"/api/v1/posts?{too_many}").status_code == 422
    assert client.get("/api/v1/posts?tag=no%20spaces").status_code == 422
    assert client.get(f"/api/v1/posts?tag={'x' * 31}").status_code == 422


def test_a_full_buffer_of_views_is_sent_at_once(make_app):
    app = make_app(VIEW_BUFFER_MAX="2", VIEW_SEND_SECONDS="3600")
    client = app.test_client()
    post = write(client, token_for(app, create_user(app, username="writer")))
    url = f"/api/v1/posts/{post['slug']}"
    pending = redis.Redis.from_url(app.config["CACHE_REDIS_URL"])

    client.get(url, environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert pending.hgetall("post-views:pending") == {}  # kept in the process, not sent yet
    client.get(url, environ_base={"REMOTE_ADDR": "10.0.0.2"})  # the buffer is full

    assert pending.hgetall("post-views:pending") == {post["slug"].encode(): b"2"}


def test_a_visitor_reading_a_post_again_within_the_hour_adds_nothing_to_send(make_app):
    app = make_app(VIEW_SEND_SECONDS="3600")
    client = app.test_client()
    post = write(client, token_for(app, create_user(app, username="writer")))
    url = f"/api/v1/posts/{post['slug']}"

    for _ in range(5):
        client.get(url, environ_base={"REMOTE_ADDR": "10.0.0.1"})
    client.get(url, environ_base={"REMOTE_ADDR": "10.0.0.2"})

    pending = app.extensions["pending_views"]
    assert len(pending._views) == 2  # one per visitor, however often they read
    with app.app_context():
        assert BY_NAME["flush-post-views"].run() == 2
