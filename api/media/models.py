"""Uploaded media, and the staging copy of an upload until its job has processed it.

The upload's bytes wait in the database (shared by every web and worker host) rather than on
one machine's disk; the media job deletes them once the files are in storage.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from api.extensions import Model
from api.models import TimestampMixin


class MediaStatus(StrEnum):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


class Purpose(StrEnum):
    AVATAR = "avatar"
    POST = "post"
    REVIEW = "review"
    GENERAL = "general"


class Media(TimestampMixin, Model):
    __tablename__ = "media"
    __table_args__ = (Index("ix_media_owner_id_created_at", "owner_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(8))  # image or video
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default=MediaStatus.PENDING, index=True)
    width: Mapped[int | None]
    height: Mapped[int | None]
    urls: Mapped[dict[str, Any]] = mapped_column(default=dict)
    fallback_urls: Mapped[dict[str, Any]] = mapped_column(default=dict)
    storage_keys: Mapped[list[str]] = mapped_column(default=list)
    stored_bytes: Mapped[int] = mapped_column(default=0)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(String(300))
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))


class MediaAttachment:
    """Mixed into the tables that attach ordered media to a post or a review."""

    media_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("media.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int]

    @declared_attr
    def media(cls) -> Mapped[Media]:  # noqa: N805 - declared_attr receives the class
        return relationship("Media", lazy="joined")


class MediaBlob(Model):
    __tablename__ = "media_blobs"

    media_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("media.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[bytes] = mapped_column(LargeBinary)
    media: Mapped[Media] = relationship()
