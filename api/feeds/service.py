"""Building the Atom feed (the newest published posts) and the sitemap (posts and destinations).

Both are public reads cached in the `posts` namespace of `api.response_cache`, so a post
written, edited or deleted invalidates them with the post list; the sitemap's key also carries
the catalogue's version, so re-seeding the catalogue invalidates it too. Links point at the
frontend (`FRONTEND_URL`): `/blog/{slug}` and `/destinations/{slug}`. XML is built with
ElementTree, which escapes every text and attribute; characters XML 1.0 cannot carry at all
(control characters) are dropped first.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import quote
from xml.etree import ElementTree as ET

from flask import current_app, url_for
from sqlalchemy import select

from api import response_cache
from api.blog.models import Post, PostStatus
from api.catalogue import service as catalogue
from api.extensions import db

ATOM = "http://www.w3.org/2005/Atom"
SITEMAP = "http://www.sitemaps.org/schemas/sitemap/0.9"
FEED_ENTRIES = 20  # the newest published posts
SITEMAP_MAX_POSTS = 10_000  # a sitemap file may list 50,000 URLs; the catalogue adds ~50
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # `updated` of a feed with no posts yet
NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: str | None) -> str:
    return NOT_XML.sub("", value or "")


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _frontend(path: str) -> str:
    return f"{current_app.config['FRONTEND_URL'].rstrip('/')}{path}"


def _element(
    parent: ET.Element, tag: str, text: str | None = None, **attributes: str
) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    if text is not None:
        element.text = _text(text)
    return element


def _published(limit: int) -> list[Post]:
    return list(
        db.session.scalars(
            select(Post)
            .where(Post.status == PostStatus.PUBLISHED)
            .order_by(Post.published_at.desc().nulls_last(), Post.id)
            .limit(limit)
        )
    )


def _updated(post: Post) -> datetime:
    return max(moment for moment in (post.updated_at, post.published_at) if moment is not None)


def atom_feed() -> bytes:
    """The newest FEED_ENTRIES published posts as an Atom 1.0 document (RFC 4287)."""
    ET.register_namespace("", ATOM)
    posts = _published(FEED_ENTRIES)
    feed = ET.Element(f"{{{ATOM}}}feed")
    _element(feed, f"{{{ATOM}}}id", _frontend("/blog"))
    _element(feed, f"{{{ATOM}}}title", "BaliBlissed blog")
    _element(feed, f"{{{ATOM}}}subtitle", "Bali travel stories, tips and itineraries")
    _element(feed, f"{{{ATOM}}}updated", _stamp(max(map(_updated, posts), default=EPOCH)))
    _element(feed, f"{{{ATOM}}}link", rel="self", href=url_for("feeds.atom", _external=True))
    _element(feed, f"{{{ATOM}}}link", rel="alternate", href=_frontend("/blog"))
    author = _element(feed, f"{{{ATOM}}}author")
    _element(author, f"{{{ATOM}}}name", "BaliBlissed")
    for post in posts:
        entry = _element(feed, f"{{{ATOM}}}entry")
        _element(entry, f"{{{ATOM}}}id", f"urn:uuid:{post.id}")
        _element(entry, f"{{{ATOM}}}title", post.title)
        _element(
            entry, f"{{{ATOM}}}link", rel="alternate", href=_frontend(f"/blog/{quote(post.slug)}")
        )
        if post.published_at is not None:
            _element(entry, f"{{{ATOM}}}published", _stamp(post.published_at))
        _element(entry, f"{{{ATOM}}}updated", _stamp(_updated(post)))
        if post.author is not None:
            writer = _element(entry, f"{{{ATOM}}}author")
            _element(writer, f"{{{ATOM}}}name", post.author.full_name or post.author.username)
        for tag in post.tags:
            _element(entry, f"{{{ATOM}}}category", term=_text(tag.name))
        _element(entry, f"{{{ATOM}}}summary", post.summary or post.excerpt)
        _element(entry, f"{{{ATOM}}}content", post.content_html, type="html")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def sitemap() -> bytes:
    """The home page, the blog, each published post and each destination (sitemaps.org 0.9)."""
    ET.register_namespace("", SITEMAP)
    urlset = ET.Element(f"{{{SITEMAP}}}urlset")

    def add(path: str, modified: datetime | None = None) -> None:
        url = _element(urlset, f"{{{SITEMAP}}}url")
        _element(url, f"{{{SITEMAP}}}loc", _frontend(path))
        if modified is not None:
            _element(url, f"{{{SITEMAP}}}lastmod", _stamp(modified))

    add("/")
    add("/blog")
    for post in _published(SITEMAP_MAX_POSTS):
        add(f"/blog/{quote(post.slug)}", _updated(post))
    for destination in catalogue.all_destinations():
        add(f"/destinations/{quote(destination['slug'])}")
    return ET.tostring(urlset, encoding="utf-8", xml_declaration=True)


def _as_bytes(body: bytes) -> bytes:
    return body


def cached_feed() -> response_cache.Cached:
    return response_cache.get_or_build("posts", "feed:atom", atom_feed, encode=_as_bytes)


def cached_sitemap() -> response_cache.Cached:
    key = f"sitemap:catalogue-v{response_cache.version('catalogue')}"
    return response_cache.get_or_build("posts", key, sitemap, encode=_as_bytes)
