"""Blog posts, their tags (many-to-many) and attached media."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from api.extensions import Model, db
from api.media.models import MediaAttachment
from api.models import TimestampMixin


class PostStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


post_tags = Table(
    "post_tags",
    db.metadata,
    Column("post_id", ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Tag(Model):
    __tablename__ = "tags"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(30), unique=True)


class PostMedia(MediaAttachment, Model):
    __tablename__ = "post_media"

    post_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True
    )


class Post(TimestampMixin, Model):
    __tablename__ = "posts"
    __table_args__ = (
        Index("ix_posts_status_published_at", "status", "published_at"),
        Index("ix_posts_author_id_status", "author_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(150))
    slug: Mapped[str] = mapped_column(String(90), unique=True)
    content: Mapped[str] = mapped_column(Text)
    content_html: Mapped[str] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(String(300))
    excerpt: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default=PostStatus.DRAFT)
    published_at: Mapped[datetime | None]
    cover_media_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("media.id", ondelete="SET NULL")
    )
    word_count: Mapped[int] = mapped_column(default=0)
    reading_time_minutes: Mapped[int] = mapped_column(default=1)
    view_count: Mapped[int] = mapped_column(default=0)

    author = relationship("User", lazy="joined")
    tags: Mapped[list[Tag]] = relationship(secondary=post_tags, lazy="selectin", order_by=Tag.name)
    cover = relationship("Media", lazy="joined", foreign_keys=[cover_media_id])
    attachments: Mapped[list[PostMedia]] = relationship(
        lazy="selectin", order_by=PostMedia.position, cascade="all, delete-orphan"
    )
