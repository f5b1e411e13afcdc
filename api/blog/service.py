"""The blog: posts in Markdown rendered to sanitised HTML, tags, permissions, search, views.

Public reads (the list and published posts) go through `api.response_cache` (namespace
`posts`); every write bumps the namespace, so no stale post is served after an edit.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, func, or_, select, text, true
from sqlalchemy.exc import IntegrityError

from api import response_cache
from api.blog import text as blog_text
from api.blog.models import Post, PostMedia, PostStatus, Tag
from api.blog.schemas import PostPageSchema, PostSchema
from api.errors import Conflict, Forbidden, NotFound, ValidationFailed
from api.extensions import db
from api.media import service as media
from api.media.models import Media
from api.models import utcnow
from api.pagination import paginate
from api.security import Caller, SignedIn
from api.users.models import User

MAX_IMAGES, MAX_VIDEOS = 10, 3
ANONYMOUS = Caller(user_id=None, role=None, address="cache")


def can_edit(post: Post, caller: Caller) -> bool:
    return caller.user_id == post.author_id or caller.is_staff


def _tags(names: list[str]) -> list[Tag]:
    wanted = sorted({name.strip().lower() for name in names})
    existing = {
        tag.name: tag for tag in db.session.scalars(select(Tag).where(Tag.name.in_(wanted)))
    }
    tags = []
    for name in wanted:
        tag = existing.get(name)
        if tag is None:
            tag = Tag(name=name)
            db.session.add(tag)
        tags.append(tag)
    return tags


def _unique_slug(base: str, exclude: uuid.UUID | None = None) -> str:
    """`base`, or `base-2`, `base-3`... whichever is free."""
    taken = set(
        db.session.scalars(
            select(Post.slug).where(
                or_(Post.slug == base, Post.slug.like(f"{base}-%")),
                Post.id != exclude if exclude else true(),
            )
        )
    )
    if base not in taken:
        return base
    number = 2
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"


def _apply_content(post: Post, content: str) -> None:
    post.content = content
    try:
        post.content_html = blog_text.render(content)
    except blog_text.Unrenderable as exc:
        raise ValidationFailed(
            "The content is too costly to render.", errors={"content": [str(exc)]}
        ) from exc
    plain = blog_text.plain_text(post.content_html)
    post.word_count = blog_text.word_count(plain)
    post.reading_time_minutes = blog_text.reading_minutes(post.word_count)
    post.excerpt = post.summary or blog_text.excerpt(plain)


def _attach_media(post: Post, author_id: uuid.UUID, media_ids: list[uuid.UUID]) -> None:
    items = []
    for media_id in dict.fromkeys(media_ids):
        found = db.session.get(Media, media_id)
        kind = found.kind if found else "image"
        items.append(media.require_usable(media_id, author_id, "media_ids", kind))
    if (
        sum(item.kind == "image" for item in items) > MAX_IMAGES
        or sum(item.kind == "video" for item in items) > MAX_VIDEOS
    ):
        raise ValidationFailed(
            "Too many attachments.",
            errors={"media_ids": [f"At most {MAX_IMAGES} images and {MAX_VIDEOS} videos."]},
        )
    post.attachments = [
        PostMedia(media_id=item.id, position=index) for index, item in enumerate(items)
    ]


def _set_status(post: Post, status: str) -> None:
    if status == PostStatus.PUBLISHED and post.published_at is None:
        post.published_at = utcnow()
    post.status = status


def _save(post: Post) -> Post:
    try:
        db.session.flush()
    except IntegrityError as exc:  # a concurrent writer took the slug
        db.session.rollback()
        raise Conflict("A post with this slug already exists.", code="slug_taken") from exc
    response_cache.bump("posts")
    return post


def create(caller: SignedIn, data: dict[str, Any]) -> Post:
    user = caller.account
    if not user.is_verified:
        raise Forbidden("Verify your email address before writing posts.", code="email_unverified")
    post = Post(
        id=uuid.uuid4(),
        author_id=user.id,
        title=data["title"],
        summary=data.get("summary"),
        status=PostStatus.DRAFT,
    )
    post.slug = _unique_slug(blog_text.slugify(data["title"]))
    _apply_content(post, data["content"])
    post.tags = _tags(data.get("tags", []))
    if data.get("cover_media_id"):
        media.require_usable(data["cover_media_id"], user.id, "cover_media_id", "image")
        post.cover_media_id = data["cover_media_id"]
    _attach_media(post, user.id, data.get("media_ids", []))
    _set_status(post, data.get("status", PostStatus.DRAFT))
    db.session.add(post)
    return _save(post)


def update(caller: Caller, slug: str, changes: dict[str, Any]) -> Post:
    post = _get(slug)
    if not can_edit(post, caller):
        raise Forbidden("Only the author, moderators and administrators can edit this post.")
    if "slug" in changes and changes["slug"] != post.slug:
        if db.session.scalar(select(Post.id).where(Post.slug == changes["slug"])):
            raise Conflict("A post with this slug already exists.", code="slug_taken")
        post.slug = changes["slug"]
    for field in ("title", "summary"):
        if field in changes:
            setattr(post, field, changes[field])
    if "content" in changes or "summary" in changes:
        _apply_content(post, changes.get("content", post.content))
    if "tags" in changes:
        post.tags = _tags(changes["tags"])
    if "cover_media_id" in changes:
        if changes["cover_media_id"]:
            media.require_usable(
                changes["cover_media_id"], post.author_id, "cover_media_id", "image"
            )
        post.cover_media_id = changes["cover_media_id"]
    if "media_ids" in changes:
        _attach_media(post, post.author_id, changes["media_ids"])
    if "status" in changes:
        _set_status(post, changes["status"])
    return _save(post)


def delete(caller: Caller, slug: str) -> None:
    post = _get(slug)
    if not can_edit(post, caller):
        raise Forbidden("Only the author, moderators and administrators can delete this post.")
    db.session.delete(post)
    response_cache.bump("posts")


def _get(slug: str) -> Post:
    post = db.session.scalar(select(Post).where(Post.slug == slug))
    if post is None:
        raise NotFound("No post with this slug.")
    return post


def readable(slug: str, caller: Caller) -> Post:
    """The post, if the caller may read it: published, or a draft of theirs (or staff)."""
    post = _get(slug)
    if post.status != PostStatus.PUBLISHED and not can_edit(post, caller):
        raise NotFound("No post with this slug.")
    return post


def search(filters: dict[str, Any], caller: Caller) -> Select[Post]:
    status = filters.get("status") if caller.is_staff else None
    query = select(Post).where(Post.status == (status or PostStatus.PUBLISHED))
    if filters.get("tag"):  # any of the tags
        query = query.where(Post.tags.any(Tag.name.in_(normalise_tags(filters["tag"]))))
    if filters.get("author"):
        query = query.join(User, User.id == Post.author_id).where(
            func.lower(User.username) == filters["author"].lower()
        )
    text_query = filters.get("q")
    if text_query and db.engine.dialect.name == "postgresql":
        matches = text("posts.search_vector @@ websearch_to_tsquery('english', :q)")
        rank = text("ts_rank(posts.search_vector, websearch_to_tsquery('english', :q)) DESC")
        query = query.where(matches).order_by(rank).params(q=text_query)
    elif text_query:  # SQLite (embedded mode): a plain substring search
        pattern = f"%{text_query.lower()}%"
        query = query.where(
            or_(func.lower(Post.title).like(pattern), func.lower(Post.content).like(pattern))
        )
    if filters.get("order") == "popular":
        return query.order_by(Post.view_count.desc(), Post.published_at.desc(), Post.id)
    return query.order_by(Post.published_at.desc().nulls_last(), Post.created_at.desc(), Post.id)


def normalise_tags(names: list[str]) -> list[str]:
    """Tags as stored (lower case), each once, sorted: `?tag=b&tag=A` and `?tag=a&tag=b` are
    one query and one cache entry."""
    return sorted({name.lower() for name in names})


def cached_page(filters: dict[str, Any], page: int, per_page: int) -> response_cache.Cached:
    """A public list page (published posts), cached; the key holds every filter, the tags
    normalised."""
    filters = dict(filters)
    if filters.get("tag"):
        filters["tag"] = normalise_tags(filters["tag"])
    key = response_cache.key_for(page=page, per_page=per_page, **filters)
    return response_cache.get_or_build(
        "posts",
        f"list:{key}",
        lambda: PostPageSchema().dump(paginate(search(filters, ANONYMOUS), page, per_page)),
    )


def cached_post(slug: str) -> response_cache.Cached:
    """A published post, cached (NotFound when it is not published)."""
    return response_cache.get_or_build(
        "posts", f"slug:{slug}", lambda: PostSchema().dump(published(slug))
    )


def popular_slugs(limit: int) -> list[str]:
    return list(
        db.session.scalars(
            select(Post.slug)
            .where(Post.status == PostStatus.PUBLISHED)
            .order_by(Post.view_count.desc())
            .limit(limit)
        )
    )


def published(slug: str) -> Post:
    post = _get(slug)
    if post.status != PostStatus.PUBLISHED:
        raise NotFound("No post with this slug.")
    return post
