"""Accounts: users and the outside identities (Google, WeChat) linked to them."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from api.extensions import Model
from api.models import TimestampMixin

if TYPE_CHECKING:
    from api.media.models import Media


class TestimonialStatus(StrEnum):
    """A testimonial is public only once a moderator approved it; editing it asks again."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Role(StrEnum):
    USER = "user"
    MODERATOR = "moderator"
    ADMIN = "admin"


class User(TimestampMixin, Model):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)  # WeChat gives none
    # A new address asked for (PATCH /auth/me): it replaces `email` only once its owner follows
    # the link sent to it, so a stolen session alone cannot move the account elsewhere.
    pending_email: Mapped[str | None] = mapped_column(String(254))
    username: Mapped[str] = mapped_column(String(30))
    full_name: Mapped[str | None] = mapped_column(String(100))
    password_hash: Mapped[str | None] = mapped_column(String(255))  # none for OAuth-only
    role: Mapped[str] = mapped_column(String(16), default=Role.USER, index=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    is_verified: Mapped[bool] = mapped_column(default=False)
    auth_provider: Mapped[str] = mapped_column(String(16), default="email")
    bio: Mapped[str | None] = mapped_column(String(160))
    website: Mapped[str | None] = mapped_column(String(300))
    country: Mapped[str | None] = mapped_column(String(100))
    phone_number: Mapped[str | None] = mapped_column(String(32))
    date_of_birth: Mapped[date | None]
    timezone: Mapped[str | None] = mapped_column(String(64))
    testimonial: Mapped[str | None] = mapped_column(String(500))
    testimonial_status: Mapped[str | None] = mapped_column(String(16), index=True)
    testimonial_moderated_at: Mapped[datetime | None]
    avatar_media_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("media.id", ondelete="SET NULL", use_alter=True)
    )
    avatar: Mapped[Media | None] = relationship(foreign_keys=[avatar_media_id], lazy="select")
    avatar_external_url: Mapped[str | None] = mapped_column(String(500))  # from OAuth profiles
    # Tokens carry the version they were issued under; bumping it (password change or reset,
    # deactivation) ends every session at once.
    session_version: Mapped[int] = mapped_column(default=1)
    last_login_at: Mapped[datetime | None]

    def set_testimonial(self, text: str | None) -> None:
        """A new or edited testimonial waits for a moderator; none has no status."""
        text = text or None
        if text == self.testimonial:
            return
        self.testimonial = text
        self.testimonial_status = TestimonialStatus.PENDING if text else None
        self.testimonial_moderated_at = None

    def end_sessions(self) -> None:
        """Every token issued so far stops working (checked on every request), and so does an
        email change asked for under them: it may have been asked by whoever is being shut out."""
        self.session_version += 1
        self.pending_email = None


# Usernames are unique regardless of case (emails are stored lower-cased, usernames as typed).
Index("uq_users_username_lower", func.lower(User.username), unique=True)


class OAuthIdentity(TimestampMixin, Model):
    """A provider's account (Google `sub`, WeChat `unionid`/`openid`) linked to a user."""

    __tablename__ = "oauth_identities"
    __table_args__ = (UniqueConstraint("provider", "subject"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(128))
    email: Mapped[str | None] = mapped_column(String(254))
