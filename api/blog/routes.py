"""The blog: public reads cached (with ETag), writes by signed-in authors."""

from __future__ import annotations

from typing import Any

from flask import Response

from api import response_cache
from api.blog import service, views
from api.blog.models import Post
from api.blog.schemas import (
    PostCreateSchema,
    PostListArgsSchema,
    PostPageSchema,
    PostSchema,
    PostUpdateSchema,
)
from api.contract import Blueprint
from api.errors import NotFound
from api.idempotency import idempotent
from api.ratelimits import exempt
from api.security import current_caller, optional_auth, require_user, signed_in

blp = Blueprint("blog", __name__, url_prefix="/api/v1/posts", description="The blog.")


@blp.route("")
@optional_auth
@exempt  # cache hits are cheaper than a limit check; misses are charged
@blp.arguments(PostListArgsSchema(), location="query")
@blp.response(200, PostPageSchema)
@blp.alt_response(304, description="Not modified (If-None-Match).")
def list_posts(args: dict[str, Any]) -> Response:
    """Published posts, newest (or most viewed) first; filters tag, author, q (full text)."""
    page, per_page = args.pop("page"), args.pop("per_page")
    if args.get("status"):  # moderators' views of drafts and archives are not cached
        staff = response_cache.staff_page(
            PostPageSchema, page, per_page, lambda caller: service.search(args, caller)
        )
        if staff is not None:
            return staff
        args.pop("status")
    return response_cache.json_response(*service.cached_page(args, page, per_page))


@blp.route("", methods=["POST"])
@signed_in
@idempotent
@blp.arguments(PostCreateSchema())
@blp.response(201, PostSchema)
@blp.alt_response(403, description="Verify your email first.")
@blp.alt_response(422, description="Invalid fields or media.")
def create_post(data: dict[str, Any]) -> Post:
    """Write a post (Markdown); it gets a unique slug from its title."""
    return service.create(require_user(), data)


@blp.route("/<string:slug>")
@optional_auth
@exempt  # cache hits are cheaper than a limit check; misses are charged
@blp.response(200, PostSchema)
@blp.alt_response(404, description="No such post (drafts are their author's).")
def get_post(slug: str) -> Response:
    """A post. Published posts are cached and count one view per visitor per hour."""
    caller = current_caller()
    try:
        cached = service.cached_post(slug)
    except NotFound:
        post = service.readable(slug, caller)  # a draft, for its author or staff
        return response_cache.uncached_json(PostSchema().dump(post))
    views.record(slug, caller)  # sent to Redis with others, after the answer
    return response_cache.json_response(*cached)


@blp.route("/<string:slug>", methods=["PATCH"])
@signed_in
@blp.arguments(PostUpdateSchema())
@blp.response(200, PostSchema)
@blp.alt_response(403, description="Not the author, a moderator or an administrator.")
@blp.alt_response(409, description="The new slug is taken.")
def update_post(changes: dict[str, Any], slug: str) -> Post:
    """Edit a post; the slug stays unless a new one is given."""
    return service.update(require_user(), slug, changes)


@blp.route("/<string:slug>", methods=["DELETE"])
@signed_in
@blp.response(204)
@blp.alt_response(403, description="Not the author, a moderator or an administrator.")
def delete_post(slug: str) -> None:
    """Delete a post."""
    service.delete(require_user(), slug)
