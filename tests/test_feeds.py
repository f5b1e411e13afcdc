"""GET /feed.xml (Atom) and GET /sitemap.xml: valid XML, published posts only, bounded,
escaped, cached with ETags and invalidated like the other public reads."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest

from tests.conftest import create_user, sql, token_for
from tests.test_blog import POST

A = "{http://www.w3.org/2005/Atom}"
S = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
HOSTILE = "Ubud <script>alert(\"x\")</script> & Amed ]]> 'quotes'"


@pytest.fixture
def author(app):
    return token_for(app, create_user(app, username="writer"))


def write(client, headers, **changes):
    response = client.post("/api/v1/posts", json={**POST, **changes}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def feed(client, **kwargs):
    response = client.get("/feed.xml", **kwargs)
    assert response.status_code == 200
    return response, ET.fromstring(response.data)


def sitemap_locs(client):
    response = client.get("/sitemap.xml")
    assert response.status_code == 200
    root = ET.fromstring(response.data)
    assert root.tag == f"{S}urlset"
    return [url.findtext(f"{S}loc") for url in root.findall(f"{S}url")]


def test_the_feed_is_atom_with_the_published_posts_escaped(app, client, author):
    first = write(client, author, title=HOSTILE, summary="Sun & rice <b>terraces</b>")
    write(client, author, title="A draft nobody sees", status="draft")

    response, root = feed(client)

    assert response.mimetype == "application/atom+xml"
    assert response.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    assert response.data.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    assert root.tag == f"{A}feed"
    for required in ("id", "title", "updated", "author"):
        assert root.find(f"{A}{required}") is not None, required
    assert root.find(f"{A}link[@rel='self']").get("href") == "http://localhost/feed.xml"
    (entry,) = root.findall(f"{A}entry")
    for required in ("id", "title", "updated", "link", "summary", "content"):
        assert entry.find(f"{A}{required}") is not None, required
    assert entry.findtext(f"{A}title") == HOSTILE  # escaped in the bytes, intact when parsed
    assert b"<script>" not in response.data
    assert entry.findtext(f"{A}id") == f"urn:uuid:{first['id']}"
    assert (
        entry.find(f"{A}link").get("href") == f"{app.config['FRONTEND_URL']}/blog/{first['slug']}"
    )
    assert entry.findtext(f"{A}summary") == "Sun & rice <b>terraces</b>"
    assert entry.find(f"{A}content").get("type") == "html"
    assert "<h2" in entry.findtext(f"{A}content")
    assert entry.findtext(f"{A}author/{A}name") == "writer"
    assert {c.get("term") for c in entry.findall(f"{A}category")} == {"snorkeling", "ubud"}
    assert entry.findtext(f"{A}updated").endswith("Z")


def test_an_empty_blog_still_has_a_valid_feed(client):
    _response, root = feed(client)

    assert root.findall(f"{A}entry") == []
    assert root.findtext(f"{A}updated") == "1970-01-01T00:00:00Z"


def test_the_feed_holds_the_20_newest_posts(client, author):
    for number in range(22):
        write(client, author, title=f"Post number {number}")

    _response, root = feed(client)

    titles = [entry.findtext(f"{A}title") for entry in root.findall(f"{A}entry")]
    assert len(titles) == 20
    assert titles[0] == "Post number 21"
    assert "Post number 0" not in titles


def test_the_feed_is_cached_and_a_new_post_invalidates_it(client, author):
    write(client, author, title="The first one")
    first, _root = feed(client)
    assert first.headers["Cache-Control"].startswith("public")
    tag = first.headers["ETag"]
    assert client.get("/feed.xml", headers={"If-None-Match": tag}).status_code == 304

    write(client, author, title="The second one")

    after, root = feed(client, headers={"If-None-Match": tag})
    assert after.headers["ETag"] != tag
    assert root.find(f"{A}entry").findtext(f"{A}title") == "The second one"


def test_the_sitemap_lists_published_posts_and_every_destination(app, client, author):
    published = write(client, author)
    draft = write(client, author, title="Not yet", status="draft")
    frontend = app.config["FRONTEND_URL"]
    slugs = [row[0] for row in sql(app, "SELECT slug FROM destinations")]

    locs = sitemap_locs(client)

    assert f"{frontend}/blog/{published['slug']}" in locs
    assert f"{frontend}/blog/{draft['slug']}" not in locs
    assert {f"{frontend}/destinations/{slug}" for slug in slugs} <= set(locs)
    assert len(locs) == 2 + 1 + len(slugs)  # home, blog, one post, the catalogue
    assert client.get("/sitemap.xml").mimetype == "application/xml"


def test_the_sitemap_follows_post_deletes_and_catalogue_seeds(app, client, author):
    post = write(client, author)
    frontend = app.config["FRONTEND_URL"]
    assert f"{frontend}/blog/{post['slug']}" in sitemap_locs(client)
    sql(app, "UPDATE destinations SET slug = 'tanah-lot-renamed' WHERE slug = 'tanah-lot-temple'")
    cached = sitemap_locs(client)  # no write went through the API: still the cached copy

    client.delete(f"/api/v1/posts/{post['slug']}", headers=author)
    after_delete = sitemap_locs(client)
    seeded = app.test_cli_runner().invoke(args=["catalogue", "seed"])
    after_seed = sitemap_locs(client)

    assert f"{frontend}/destinations/tanah-lot-temple" in cached
    assert f"{frontend}/blog/{post['slug']}" not in after_delete
    assert "1 created" in seeded.output
    assert f"{frontend}/destinations/tanah-lot-renamed" in after_seed
    assert f"{frontend}/destinations/tanah-lot-temple" in after_seed


@pytest.mark.parametrize("path", ["/feed.xml", "/sitemap.xml"])
def test_the_feeds_are_read_only(client, path):
    response = client.post(path)

    assert response.status_code == 405
    assert response.mimetype == "application/problem+json"
