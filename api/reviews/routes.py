"""Reviews of the agency and its destinations."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response

from api import response_cache
from api.contract import Blueprint
from api.idempotency import idempotent
from api.ratelimits import exempt
from api.reviews import service
from api.reviews.models import Review
from api.reviews.schemas import (
    ReviewCreateSchema,
    ReviewListArgsSchema,
    ReviewPageSchema,
    ReviewSchema,
    ReviewUpdateSchema,
    SummaryArgsSchema,
    SummarySchema,
)
from api.security import current_caller, optional_auth, public, require_user, signed_in

blp = Blueprint("reviews", __name__, url_prefix="/api/v1/reviews", description="Reviews.")


@blp.route("")
@optional_auth
@exempt  # cache hits are cheaper than a limit check; misses are charged
@blp.arguments(ReviewListArgsSchema(), location="query")
@blp.response(200, ReviewPageSchema)
def list_reviews(args: dict[str, Any]) -> Response:
    """Published reviews, newest first (filter: target). Cached, with ETag."""
    page, per_page, target = args["page"], args["per_page"], args.get("target")
    if args.get("status"):  # moderators' view of pending reviews is not cached
        staff = response_cache.staff_page(
            ReviewPageSchema,
            page,
            per_page,
            lambda caller: service.published(target, args["status"], caller),
        )
        if staff is not None:
            return staff
    return response_cache.json_response(*service.cached_page(target, page, per_page))


@blp.route("/summary")
@public
@exempt  # cache hits are cheaper than a limit check; misses are charged
@blp.arguments(SummaryArgsSchema(), location="query")
@blp.response(200, SummarySchema)
def review_summary(args: dict[str, Any]) -> Response:
    """Count, average and histogram of a target's published reviews. Cached, with ETag."""
    return response_cache.json_response(*service.cached_summary(args["target"]))


@blp.route("", methods=["POST"])
@signed_in
@idempotent
@blp.arguments(ReviewCreateSchema())
@blp.response(201, ReviewSchema)
@blp.alt_response(409, description="You already reviewed this target.")
@blp.alt_response(422, description="Invalid fields, target or photos.")
def create_review(data: dict[str, Any]) -> Review:
    """Review the agency (`target: "agency"`) or a destination (its slug)."""
    return service.create(require_user(), data)


@blp.route("/<uuid:review_id>")
@optional_auth
@blp.response(200, ReviewSchema)
@blp.alt_response(404, description="No such review (a pending one is its author's and staff's).")
def get_review(review_id: uuid.UUID) -> Review:
    """One review."""
    return service.readable(review_id, current_caller())


@blp.route("/<uuid:review_id>", methods=["PATCH"])
@signed_in
@blp.arguments(ReviewUpdateSchema())
@blp.response(200, ReviewSchema)
@blp.alt_response(403, description="Not the author, a moderator or an administrator.")
def update_review(changes: dict[str, Any], review_id: uuid.UUID) -> Review:
    """Edit a review (moderators may also publish a pending one)."""
    return service.update(require_user(), review_id, changes)


@blp.route("/<uuid:review_id>", methods=["DELETE"])
@signed_in
@blp.response(204)
@blp.alt_response(403, description="Not the author, a moderator or an administrator.")
def delete_review(review_id: uuid.UUID) -> None:
    """Delete a review."""
    service.delete(require_user(), review_id)
