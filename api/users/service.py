"""Public profiles, testimonials, and the administrators' user management."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, func, or_, select, update

from api.auth import service as accounts
from api.database import affected
from api.errors import Conflict, Forbidden, NotFound
from api.extensions import db
from api.media import service as media
from api.models import utcnow
from api.security import Caller
from api.users.models import TestimonialStatus, User


def public_profile(username: str) -> User:
    user = db.session.scalar(
        select(User).where(func.lower(User.username) == username.lower(), User.is_active)
    )
    if user is None:
        raise NotFound("No traveller with this username.")
    return user


def testimonials(caller: Caller, status: str | None) -> Select[User]:
    """Approved testimonials; staff may list pending or rejected ones instead."""
    if status not in (None, TestimonialStatus.APPROVED) and not caller.is_staff:
        raise Forbidden("Only moderators and administrators can see unpublished testimonials.")
    return (
        select(User)
        .where(
            User.is_active,
            User.testimonial.is_not(None),
            User.testimonial_status == (status or TestimonialStatus.APPROVED),
        )
        .order_by(User.updated_at.desc(), User.id)
    )


def moderate_testimonial(user_id: uuid.UUID, status: str) -> User:
    """Approve or reject the testimonial as it stands. The decision is a conditional UPDATE
    on the text read here, so an edit made meanwhile (pending again) is never approved
    unseen: it is 409, and the moderator reads the new text."""
    user = get(user_id)
    if not user.testimonial:
        raise NotFound("This user has no testimonial.")
    seen = user.testimonial
    changed = affected(
        update(User)
        .where(User.id == user_id, User.testimonial == seen)
        .values(testimonial_status=status, testimonial_moderated_at=utcnow())
    )
    if not changed:
        raise Conflict("The testimonial changed meanwhile; read it again.", code="changed")
    db.session.refresh(user)
    return user


def search(filters: dict[str, Any]) -> Select[User]:
    query = select(User)
    for field in ("role", "is_verified", "is_active"):
        if field in filters:
            query = query.where(getattr(User, field) == filters[field])
    if filters.get("q"):
        pattern = f"%{filters['q'].lower()}%"
        query = query.where(
            or_(
                User.email.like(pattern),
                func.lower(User.username).like(pattern),
                func.lower(User.full_name).like(pattern),
            )
        )
    return query.order_by(User.created_at.desc(), User.id)


def get(user_id: uuid.UUID) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("No user with this id.")
    return user


def _refuse_self(admin: Caller, user: User, action: str) -> None:
    """An administrator cannot lock themselves out (and so, possibly, everyone)."""
    if admin.user_id == user.id:
        raise Conflict(f"You cannot {action} your own account.", code="cannot_modify_self")


PROFILE_FIELDS = ("email", "username", "full_name")


def administer(admin: Caller, user_id: uuid.UUID, changes: dict[str, Any]) -> User:
    """Role, flags, and corrections of the email, username and full name (see
    `api.auth.service.correct_by_admin` for what an email change means)."""
    user = get(user_id)
    if changes.get("role", user.role) != user.role or changes.get("is_active") is False:
        _refuse_self(admin, user, "demote or deactivate")
    for field in ("role", "is_active", "is_verified"):
        if field in changes:
            setattr(user, field, changes[field])
    if any(field in changes for field in PROFILE_FIELDS):
        accounts.correct_by_admin(user, changes)
    if changes.get("is_active") is False:
        user.end_sessions()
    return user


def delete(admin: Caller, user_id: uuid.UUID) -> None:
    """Delete the account; its identities, jobs, deliveries and media rows go with it (foreign
    keys), and a media job removes its stored files."""
    user = get(user_id)
    _refuse_self(admin, user, "delete")
    keys = media.stored_keys_of(user.id)
    db.session.delete(user)
    db.session.flush()
    media.delete_files_later(keys)


def counts() -> dict[str, Any]:
    rows = db.session.execute(
        select(User.role, User.is_verified, func.count()).group_by(User.role, User.is_verified)
    ).all()
    by_role: dict[str, int] = {}
    verified = unverified = 0
    for role, is_verified, count in rows:
        by_role[role] = by_role.get(role, 0) + count
        if is_verified:
            verified += count
        else:
            unverified += count
    return {
        "total": verified + unverified,
        "by_role": by_role,
        "verified": verified,
        "unverified": unverified,
    }
