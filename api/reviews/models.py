"""Reviews of the agency or of a catalogue destination: one per user per target."""

from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from api.extensions import Model
from api.media.models import MediaAttachment
from api.models import TimestampMixin


class ReviewStatus(StrEnum):
    PUBLISHED = "published"
    PENDING = "pending"


class ReviewMedia(MediaAttachment, Model):
    __tablename__ = "review_media"

    review_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("reviews.id", ondelete="CASCADE"), primary_key=True
    )


class Review(TimestampMixin, Model):
    __tablename__ = "reviews"
    __table_args__ = (
        UniqueConstraint("author_id", "target"),  # one review per user per target
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        Index("ix_reviews_target_status_created_at", "target", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(80))
    rating: Mapped[int]
    title: Mapped[str | None] = mapped_column(String(100))
    content: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=ReviewStatus.PUBLISHED)

    author = relationship("User", lazy="joined")
    photos: Mapped[list[ReviewMedia]] = relationship(
        lazy="selectin", order_by=ReviewMedia.position, cascade="all, delete-orphan"
    )
