"""The account holder's privacy rights: deleting their own account and exporting their data.

Deletion is one unit of work: the password (or, for an account without one, a recent
sign-in) is checked, the user row goes and with it, through foreign keys, their posts,
reviews (removed, not anonymised: a review is the author's words about their own trip),
itineraries, jobs, media rows and linked sign-ins. After the commit their stored files are
removed by a media job (through the storage interface) and the session is revoked; every
other token dies with the row (`api.security.load_token_user`). Inquiries stay: they are the
agency's correspondence, not the account's.
"""

from __future__ import annotations

import time
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, or_, select

from api.auth import service as accounts
from api.blog.models import Post
from api.blog.schemas import PostSchema
from api.database import on_commit
from api.errors import Forbidden, ValidationFailed
from api.extensions import db
from api.inquiries.models import Inquiry
from api.inquiries.schemas import InquirySchema
from api.itineraries.models import Itinerary
from api.itineraries.schemas import ItinerarySchema
from api.jobs.models import Job
from api.media import service as media
from api.media.models import Media
from api.models import utcnow
from api.reviews.models import Review
from api.reviews.schemas import ReviewSchema
from api.security import revoke_family, revoke_token
from api.users import passwords
from api.users.models import OAuthIdentity, User
from api.users.schemas import UserSchema

EXPORT_LIMIT = 1000  # rows per section: an export stays one bounded answer
SECTIONS = ("posts", "reviews", "itineraries", "inquiries", "media")


# --- deletion --------------------------------------------------------------------------------


def _prove_identity(user: User, password: str | None, claims: dict[str, Any]) -> None:
    """The password, under the sign-in lockout rules; or, for an account without one (OAuth
    only), a sign-in within ACCOUNT_DELETION_RECENT_SIGNIN_MINUTES (the token's auth_time,
    kept across refreshes)."""
    if user.password_hash is None:
        window = current_app.config["ACCOUNT_DELETION_RECENT_SIGNIN_MINUTES"] * 60
        if time.time() - float(claims.get("auth_time") or 0) > window:
            raise Forbidden(
                "Sign in again (within the last few minutes) to delete this account.",
                code="recent_sign_in_required",
            )
        return
    if not password:
        message = "Your password is needed to delete the account."
        raise ValidationFailed(message, errors={"password": [message]})
    subject = str(user.id)
    accounts.raise_if_locked(subject)
    if not passwords.verify_password(user.password_hash, password, accounts.password_level()):
        accounts.record_failure(subject)
        raise Forbidden("The password is wrong.", code="wrong_password")
    accounts.clear_failures(subject)


def delete_account(user: User, password: str | None, claims: dict[str, Any]) -> None:
    """Delete the caller's account and what belongs to it (see the module docstring)."""
    _prove_identity(user, password, claims)
    keys = media.stored_keys_of(user.id)
    db.session.delete(user)
    db.session.flush()
    media.delete_files_later(keys)  # a media job, published after the commit
    family = claims.get("fam")

    def revoke() -> None:
        if family:
            revoke_family(family)
        revoke_token(claims)

    on_commit(revoke)


# --- export ----------------------------------------------------------------------------------


def _bounded(rows: list[Any], truncated: list[str], section: str) -> list[Any]:
    if len(rows) > EXPORT_LIMIT:
        truncated.append(section)
    return rows[:EXPORT_LIMIT]


def export(user: User) -> dict[str, Any]:
    """Everything the account holder gave us, as JSON: the account (never the password hash),
    linked sign-ins, posts, reviews, itineraries, uploads, and the inquiries they sent (by
    their jobs, or from their email once it is verified). At most EXPORT_LIMIT rows per
    section; `truncated` names the sections cut short."""
    truncated: list[str] = []
    limit = EXPORT_LIMIT + 1

    def rows(query: Any, section: str) -> list[Any]:
        return _bounded(list(db.session.scalars(query.limit(limit))), truncated, section)

    posts = rows(select(Post).where(Post.author_id == user.id).order_by(Post.created_at), "posts")
    reviews = rows(
        select(Review).where(Review.author_id == user.id).order_by(Review.created_at), "reviews"
    )
    itineraries = rows(
        select(Itinerary).where(Itinerary.owner_id == user.id).order_by(Itinerary.created_at),
        "itineraries",
    )
    theirs: ColumnElement[bool] = Inquiry.job_id.in_(select(Job.id).where(Job.owner_id == user.id))
    if user.is_verified and user.email:
        theirs = or_(theirs, Inquiry.email == user.email)
    inquiries = rows(select(Inquiry).where(theirs).order_by(Inquiry.created_at), "inquiries")
    uploads = _bounded(
        [
            dict(row._mapping)
            for row in db.session.execute(
                select(
                    Media.id,
                    Media.purpose,
                    Media.kind,
                    Media.content_type,
                    Media.size,
                    Media.status,
                    Media.urls,
                    Media.created_at,
                )
                .where(Media.owner_id == user.id)
                .order_by(Media.created_at)
                .limit(limit)
            )
        ],
        truncated,
        "media",
    )
    identities = db.session.scalars(
        select(OAuthIdentity).where(OAuthIdentity.user_id == user.id)
    ).all()
    account = UserSchema().dump(user)
    account.update(is_active=user.is_active, last_login_at=_iso(user.last_login_at))
    return {
        "exported_at": _iso(utcnow()),
        "account": account,
        "sign_in_methods": [
            {
                "provider": identity.provider,
                "email": identity.email,
                "linked_at": _iso(identity.created_at),
            }
            for identity in identities
        ],
        "posts": PostSchema(many=True).dump(posts),
        "reviews": ReviewSchema(many=True).dump(reviews),
        "itineraries": ItinerarySchema(many=True).dump(itineraries),
        "inquiries": InquirySchema(many=True, exclude=("analysis", "category")).dump(inquiries),
        "media": [
            {**upload, "id": str(upload["id"]), "created_at": _iso(upload["created_at"])}
            for upload in uploads
        ],
        "limit_per_section": EXPORT_LIMIT,
        "truncated": truncated,
    }


def _iso(moment: Any) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")
