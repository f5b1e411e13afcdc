"""Reviews: one per user per target (the unique key settles concurrent attempts), optional
moderation, and a cached summary (count, average, histogram) per target."""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app
from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError

from api import response_cache
from api.catalogue import service as catalogue
from api.errors import Conflict, Forbidden, NotFound, ValidationFailed
from api.extensions import db
from api.media import service as media
from api.pagination import paginate
from api.reviews.models import Review, ReviewMedia, ReviewStatus
from api.reviews.schemas import ReviewPageSchema, SummarySchema
from api.security import Caller

AGENCY = "agency"
MAX_PHOTOS = 5
ANONYMOUS = Caller(user_id=None, role=None, address="cache")


def check_target(target: str) -> None:
    if target != AGENCY and target not in catalogue.known_targets():
        raise ValidationFailed(
            "Unknown review target.",
            errors={"target": ["Use 'agency' or the slug of a catalogue destination."]},
        )


def _photos(review: Review, author_id: uuid.UUID, media_ids: list[uuid.UUID]) -> None:
    if len(media_ids) > MAX_PHOTOS:
        raise ValidationFailed("Too many photos.", errors={"media_ids": ["At most 5 images."]})
    review.photos = [
        ReviewMedia(
            media_id=media.require_usable(media_id, author_id, "media_ids", "image").id,
            position=index,
        )
        for index, media_id in enumerate(dict.fromkeys(media_ids))
    ]


def _needs_moderation(caller: Caller) -> bool:
    return bool(current_app.config["REVIEWS_REQUIRE_MODERATION"]) and not caller.is_staff


def create(caller: Caller, data: dict[str, Any]) -> Review:
    assert caller.user_id is not None
    check_target(data["target"])
    moderated = _needs_moderation(caller)
    review = Review(
        id=uuid.uuid4(),
        author_id=caller.user_id,
        target=data["target"],
        rating=data["rating"],
        title=data.get("title"),
        content=data["content"],
        status=ReviewStatus.PENDING if moderated else ReviewStatus.PUBLISHED,
    )
    _photos(review, caller.user_id, data.get("media_ids", []))
    db.session.add(review)
    try:
        db.session.flush()
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict("You have already reviewed this.", code="already_reviewed") from exc
    response_cache.bump("reviews")
    return review


def readable(review_id: uuid.UUID, caller: Caller) -> Review:
    """A review the caller may read: published, or pending for its author and staff."""
    review = db.session.get(Review, review_id)
    if review is None or (
        review.status != ReviewStatus.PUBLISHED
        and review.author_id != caller.user_id
        and not caller.is_staff
    ):
        raise NotFound("No review with this id.")
    return review


def _editable(review_id: uuid.UUID, caller: Caller) -> Review:
    review = db.session.get(Review, review_id)
    if review is None:
        raise NotFound("No review with this id.")
    if review.author_id != caller.user_id and not caller.is_staff:
        raise Forbidden("Only the author, moderators and administrators can change this review.")
    return review


def update(caller: Caller, review_id: uuid.UUID, changes: dict[str, Any]) -> Review:
    review = _editable(review_id, caller)
    if "status" in changes and not caller.is_staff:
        raise Forbidden("Only moderators can publish reviews.")
    for field in ("rating", "title", "content", "status"):
        if field in changes:
            setattr(review, field, changes[field])
    if "media_ids" in changes:
        _photos(review, review.author_id, changes["media_ids"])
    edited = any(field in changes for field in ("rating", "title", "content", "media_ids"))
    if edited and _needs_moderation(caller):  # an approved review edited is approved again
        review.status = ReviewStatus.PENDING
    response_cache.bump("reviews")
    return review


def delete(caller: Caller, review_id: uuid.UUID) -> None:
    db.session.delete(_editable(review_id, caller))
    response_cache.bump("reviews")


def published(target: str | None, status: str | None, caller: Caller) -> Select[Review]:
    wanted = status if status and caller.is_staff else ReviewStatus.PUBLISHED
    query = select(Review).where(Review.status == wanted)
    if target:
        query = query.where(Review.target == target)
    return query.order_by(Review.created_at.desc(), Review.id)


def cached_page(target: str | None, page: int, per_page: int) -> response_cache.Cached:
    key = response_cache.key_for(page=page, per_page=per_page, target=target)
    return response_cache.get_or_build(
        "reviews",
        f"list:{key}",
        lambda: ReviewPageSchema().dump(
            paginate(published(target, None, ANONYMOUS), page, per_page)
        ),
    )


def cached_summary(target: str) -> response_cache.Cached:
    check_target(target)
    return response_cache.get_or_build(
        "reviews", f"summary:{target}", lambda: SummarySchema().dump(summary(target))
    )


def most_reviewed(limit: int) -> list[str]:
    return list(
        db.session.scalars(
            select(Review.target).group_by(Review.target).order_by(func.count().desc()).limit(limit)
        )
    )


def summary(target: str) -> dict[str, Any]:
    rows = db.session.execute(
        select(Review.rating, func.count())
        .where(Review.target == target, Review.status == ReviewStatus.PUBLISHED)
        .group_by(Review.rating)
    ).all()
    histogram = {str(stars): 0 for stars in range(1, 6)}
    for rating, count in rows:
        histogram[str(rating)] = count
    count = sum(histogram.values())
    total = sum(int(stars) * number for stars, number in histogram.items())
    return {
        "target": target,
        "count": count,
        "average": round(total / count, 2) if count else None,
        "histogram": histogram,
    }
